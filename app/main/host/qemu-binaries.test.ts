/** Discovery + cached probe of QEMU binaries, with a real temporary cache dir and a fake QEMU. */
import {
  appendFileSync,
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HostIo } from './host-io.js';
import { nodeHostFs } from './node-host-io.js';
import type { QemuProbeContext } from './qemu-binaries.js';
import { parseQemuImgVersion, probeQemuImg, probeQemuSystem } from './qemu-binaries.js';
import { FakeFs, FakeQemu, fakeRun } from './testing/fakes.js';
import type { FakeQemuBehaviour } from './testing/fakes.js';
import { loadQmpFixture, QEMU_72_X86_FIXTURE } from './testing/qmp-fixture.js';

const fixture = loadQmpFixture(QEMU_72_X86_FIXTURE);

let root: string;
let bin: string;
let cacheDir: string;
let qemuPath: string;

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'vmdesk-bin-'));
  bin = path.join(root, 'bin');
  cacheDir = path.join(root, 'cache');
  mkdirSync(bin);
  qemuPath = path.join(bin, 'qemu-system-x86_64');
  writeFileSync(qemuPath, '#!/bin/false\n');
  chmodSync(qemuPath, 0o755);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function context(qemu: FakeQemu, over: Partial<QemuProbeContext> = {}, run = fakeRun({})): QemuProbeContext {
  const io: HostIo = { fs: nodeHostFs, run, spawnQmp: qemu.spawn };
  return {
    io,
    env: { PATH: bin },
    platform: 'linux',
    hostArch: 'x86_64',
    cacheDir,
    osFamily: 'debian',
    notes: [],
    ...over,
  };
}

const fakeQemu = (b: FakeQemuBehaviour = {}): FakeQemu => new FakeQemu(() => fixture, b);
const cacheFiles = (): string[] => readdirSync(cacheDir).filter((f) => f.endsWith('.json'));

describe('probeQemuSystem and its cache', () => {
  it('probes a new binary once, then answers from the cache', async () => {
    const qemu = fakeQemu();
    const first = await probeQemuSystem(context(qemu), 'x86_64');
    const second = await probeQemuSystem(context(qemu), 'x86_64');
    expect(first).toMatchObject({ status: 'ok', fromCache: false, caps: { binary: qemuPath, version: '7.2.22' } });
    expect(second).toMatchObject({ status: 'ok', fromCache: true });
    expect(second.status === 'ok' && second.caps).toEqual(first.status === 'ok' && first.caps);
    expect(qemu.spawns).toHaveLength(1);
  });

  it("probes again when the binary's mtime changes (an upgrade)", async () => {
    const qemu = fakeQemu();
    await probeQemuSystem(context(qemu), 'x86_64');
    const later = new Date(statSync(qemuPath).mtimeMs + 60_000);
    utimesSync(qemuPath, later, later);
    expect(await probeQemuSystem(context(qemu), 'x86_64')).toMatchObject({ fromCache: false });
    expect(qemu.spawns).toHaveLength(2);
  });

  it('probes again when only the size changes', async () => {
    const qemu = fakeQemu();
    await probeQemuSystem(context(qemu), 'x86_64');
    const { atime, mtime } = statSync(qemuPath);
    appendFileSync(qemuPath, 'x');
    utimesSync(qemuPath, atime, mtime);
    expect(await probeQemuSystem(context(qemu), 'x86_64')).toMatchObject({ fromCache: false });
  });

  it('ignores a corrupt cache file, rebuilds it and says so', async () => {
    const qemu = fakeQemu();
    await probeQemuSystem(context(qemu), 'x86_64');
    const file = path.join(cacheDir, cacheFiles()[0]!);
    writeFileSync(file, '{"schema":1,"kind":"qemu-sys');
    const ctx = context(qemu);
    expect(await probeQemuSystem(ctx, 'x86_64')).toMatchObject({ status: 'ok', fromCache: false });
    expect(ctx.notes).toEqual([
      expect.stringMatching(/ignored a corrupt probe cache entry and rebuilt it \(.* is not JSON\)/),
    ]);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ binary: qemuPath });
  });

  it('never trusts a cache entry whose caps have the wrong shape', async () => {
    const qemu = fakeQemu();
    await probeQemuSystem(context(qemu), 'x86_64');
    const file = path.join(cacheDir, cacheFiles()[0]!);
    const entry = JSON.parse(readFileSync(file, 'utf8')) as { data: { caps: { accels: string[] } } };
    entry.data.caps.accels = ['warp-drive'];
    writeFileSync(file, JSON.stringify(entry));
    const ctx = context(qemu);
    const r = await probeQemuSystem(ctx, 'x86_64');
    expect(r.status === 'ok' && r.caps.accels).toEqual(['kvm', 'tcg']);
    expect(ctx.notes[0]).toMatch(/corrupt/);
  });

  it('still answers when the cache dir cannot be written, and says every start will re-probe', async () => {
    writeFileSync(path.join(root, 'not-a-dir'), '');
    const ctx = context(fakeQemu(), { cacheDir: path.join(root, 'not-a-dir', 'cache') });
    expect(await probeQemuSystem(ctx, 'x86_64')).toMatchObject({ status: 'ok' });
    expect(ctx.notes).toEqual([expect.stringMatching(/could not write the probe cache .*ENOTDIR.*re-probe/)]);
  });

  it('reports a binary that dies during the probe as broken, with the command to see why, and does not cache it', async () => {
    const qemu = fakeQemu({
      dieAfterGreeting: 'qemu-system-x86_64: error while loading shared libraries: libspice-server.so.1',
    });
    const r = await probeQemuSystem(context(qemu), 'x86_64');
    expect(r).toMatchObject({
      status: 'broken',
      reason: expect.stringMatching(/failed the capability probe.*libspice-server/),
    });
    expect(r.status !== 'ok' && r.fix).toMatch(/-machine none -nodefaults -no-user-config -display none -S -qmp stdio/);
    await probeQemuSystem(context(qemu), 'x86_64');
    expect(qemu.spawns).toHaveLength(2);
  });

  it('refuses a binary pinned for aarch64 that emulates x86_64', async () => {
    const r = await probeQemuSystem(
      context(fakeQemu(), { env: { PATH: bin, VMDESK_QEMU_AARCH64: qemuPath } }),
      'aarch64',
    );
    expect(r).toMatchObject({
      status: 'broken',
      reason: `${qemuPath} emulates x86_64, not aarch64`,
      fix: 'point VMDESK_QEMU_AARCH64 at a qemu-system-aarch64 binary',
    });
  });

  it('says how to install QEMU when none is found', async () => {
    // A fake fs: the real /usr/bin of the machine running the test must not leak in.
    const io: HostIo = { fs: new FakeFs(), run: fakeRun({}), spawnQmp: fakeQemu().spawn };
    const r = await probeQemuSystem(context(fakeQemu(), { io }), 'aarch64');
    expect(r).toMatchObject({ status: 'missing', fix: 'sudo apt install qemu-system-arm qemu-utils' });
  });

  it('on macOS also checks the hypervisor entitlement with codesign, once per binary', async () => {
    const run = fakeRun({
      [`codesign -d --entitlements - ${qemuPath}`]: {
        stdout: '[Dict]\n\t[Key] com.apple.security.hypervisor\n\t[Value]\n\t\t[Bool] true\n',
      },
    });
    const qemu = fakeQemu();
    expect(await probeQemuSystem(context(qemu, { platform: 'darwin' }, run), 'x86_64')).toMatchObject({
      status: 'ok',
      hvfEntitled: true,
    });
    expect(await probeQemuSystem(context(qemu, { platform: 'darwin' }, run), 'x86_64')).toMatchObject({
      fromCache: true,
      hvfEntitled: true,
    });
    expect(run.calls).toHaveLength(1);
  });

  it('on macOS marks an unsigned binary as not entitled', async () => {
    const run = fakeRun({
      [`codesign -d --entitlements - ${qemuPath}`]: {
        code: 1,
        stderr: `${qemuPath}: code object is not signed at all\n`,
      },
    });
    expect(await probeQemuSystem(context(fakeQemu(), { platform: 'darwin' }, run), 'x86_64')).toMatchObject({
      hvfEntitled: false,
    });
  });
});

describe('probeQemuImg', () => {
  beforeEach(() => {
    writeFileSync(path.join(bin, 'qemu-img'), '#!/bin/false\n');
    chmodSync(path.join(bin, 'qemu-img'), 0o755);
  });

  it('reads the version once and caches it', async () => {
    const run = fakeRun({
      [`${path.join(bin, 'qemu-img')} --version`]: {
        stdout: 'qemu-img version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022 Fabrice Bellard\n',
      },
    });
    expect(await probeQemuImg(context(fakeQemu(), {}, run))).toMatchObject({
      status: 'ok',
      version: '7.2.22',
      fromCache: false,
    });
    expect(await probeQemuImg(context(fakeQemu(), {}, run))).toMatchObject({
      status: 'ok',
      version: '7.2.22',
      fromCache: true,
    });
    expect(run.calls).toHaveLength(1);
  });

  it('says how to install qemu-img when it is missing', async () => {
    const io: HostIo = { fs: new FakeFs(), run: fakeRun({}), spawnQmp: fakeQemu().spawn };
    expect(await probeQemuImg(context(fakeQemu(), { io, osFamily: 'fedora' }))).toMatchObject({
      status: 'missing',
      fix: 'sudo dnf install qemu-img',
    });
  });
});

it('parses the qemu-img version line', () => {
  expect(parseQemuImgVersion('qemu-img version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1)')).toBe('8.2.2');
  expect(parseQemuImgVersion('garbage')).toBeUndefined();
});
