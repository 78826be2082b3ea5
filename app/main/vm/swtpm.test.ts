/**
 * The VM's swtpm as a helper process the driver owns (helper-process.ts): the real swtpm
 * (installed on these machines; the suite skips where it is not), with no QEMU attached. QEMU's
 * side (swtpm ends when QEMU closes its socket, adoption after a driver's SIGKILL) is in
 * e2e/windows-ready.int.test.ts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempAppPaths } from '../paths/testing/temp-paths.js';
import { vmFiles } from '../paths/vm-files.js';
import { pidExists } from '../qemu/process.js';
import { endStrayHelpers, HelperProcess, isOurHelper } from './helper-process.js';
import { prepareTpmState, swtpmHelper } from './swtpm.js';

const swtpm = ['/usr/bin/swtpm', '/usr/local/bin/swtpm'].find((p) => fs.existsSync(p));
const roots: string[] = [];
const live: number[] = [];
afterEach(() => {
  for (const pid of live.splice(0)) if (pidExists(pid)) process.kill(pid, 'SIGKILL');
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
});

function setup() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vd-tpm-'));
  roots.push(root);
  const paths = tempAppPaths(root);
  const files = vmFiles(paths, '0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b');
  fs.mkdirSync(files.runtimeDir, { recursive: true, mode: 0o700 });
  fs.mkdirSync(files.logDir, { recursive: true, mode: 0o700 });
  prepareTpmState(files, paths);
  return { paths, files, ...swtpmHelper(files) };
}
const start = (h: ReturnType<typeof setup>) =>
  HelperProcess.spawn(swtpm!, h.argv, h.record, h.logFile, 10_000, new AbortController().signal);

describe('swtpmHelper', () => {
  it('asks for a TPM 2.0 with private state and socket, a capped log, and an end with QEMU', () => {
    const { files, argv, record } = setup();
    expect(argv.slice(0, 2)).toEqual(['socket', '--tpm2']);
    expect(argv).toContain(`dir=${files.tpmStateDir},mode=0600`);
    expect(argv).toContain(`type=unixio,path=${files.swtpmSocket},mode=0600`);
    expect(argv).toContain('--terminate');
    expect(record).toMatchObject({ kind: 'swtpm', socket: files.swtpmSocket, log: files.swtpmLog });
    expect(fs.statSync(files.tpmStateDir).mode & 0o777).toBe(0o700);
  });
});

describe.skipIf(!swtpm)('swtpm as a helper process (real swtpm)', () => {
  it('starts, keeps its socket private, is found by its command line, and is ended when QEMU never came', async () => {
    const h = setup();
    const p = await start(h);
    live.push(p.pid);
    expect(fs.statSync(h.files.swtpmSocket).mode & 0o777).toBe(0o600);
    expect(isOurHelper(p.pid, h.record)).toBe(true);
    expect(isOurHelper(p.pid, { ...h.record, marker: 'dir=/elsewhere,mode=0600' })).toBe(false);
    expect(isOurHelper(p.pid, { ...h.record, kind: 'virtiofsd' })).toBe(false);
    expect(isOurHelper(process.pid, h.record)).toBe(false);
    // A later driver finds it from the record alone (its pid, or the pidfile for pid 0).
    expect(HelperProcess.adopt({ ...h.record, pid: 0 })?.pid).toBe(p.pid);
    // Nothing connected, so --terminate never fires: end() forces it.
    await p.end(100);
    expect(pidExists(p.pid) && isOurHelper(p.pid, h.record)).toBe(false);
    expect(fs.existsSync(h.files.swtpmSocket)).toBe(false);
    expect(HelperProcess.adopt(p.record)).toBeUndefined();
  });

  it('never leaves two on one VM: a start ends the orphan it finds first', async () => {
    const h = setup();
    const first = await start(h);
    live.push(first.pid);
    const second = await start(h);
    live.push(second.pid);
    expect(pidExists(first.pid) && isOurHelper(first.pid, h.record)).toBe(false);
    expect(isOurHelper(second.pid, h.record)).toBe(true);
    const running = execFileSync('pgrep', ['-f', h.files.tpmStateDir], { encoding: 'utf8' }).trim().split('\n');
    expect(running).toEqual([String(second.pid)]);
    expect(await endStrayHelpers(h.record, 100)).toBe(0);
    expect(pidExists(second.pid) && isOurHelper(second.pid, h.record)).toBe(false);
  });

  it('says what swtpm said when it cannot start (its socket cannot be made)', async () => {
    const h = setup();
    // The runtime dir is gone, so swtpm cannot bind its control socket and exits.
    fs.rmSync(h.files.runtimeDir, { recursive: true });
    const err = await start(h).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'qemu-failed' });
    expect((err as Error).message).toMatch(/The TPM emulator \(swtpm\) exited while starting/);
    expect((err as Error).message).toContain(h.files.swtpmLog);
  });
});
