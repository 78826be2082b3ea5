/** probeHost end to end on fake hosts: what a new user on a typical machine is told. */
import { describe, expect, it } from 'vitest';
import { formatHostReport } from './format-host-report.js';
import type { HostIo } from './host-io.js';
import { probeHost, type ProvisionalHost } from './probe-host.js';
import { typeProbeId, type QmpProbeReplies } from './qmp-probe.js';
import { FakeFs, FakeNative, FakeQemu, fakeRun } from './testing/fakes.js';
import { loadQmpFixture, QEMU_72_X86_FIXTURE } from './testing/qmp-fixture.js';
import type { HostReport } from '../common/host-types.js';

const x86 = loadQmpFixture(QEMU_72_X86_FIXTURE);

/** The x86 fixture turned into a Homebrew aarch64 build with HVF (no capture of one exists here). */
function homebrewAarch64(): QmpProbeReplies {
  return {
    ...x86,
    replies: {
      ...x86.replies,
      'query-target': { return: { arch: 'aarch64' } },
      'query-machines': { return: [{ name: 'virt-8.2', alias: 'virt' }] },
      [typeProbeId('kvm-accel')]: { error: { class: 'DeviceNotFound', desc: "Class 'kvm-accel' not found" } },
      [typeProbeId('hvf-accel')]: { return: [] },
    },
  };
}

/** Debian 12 laptop: QEMU x86 from apt, OVMF, alice not yet in the kvm group. */
function debianLaptop(): { io: HostIo; native: FakeNative } {
  const fs = new FakeFs()
    .file('/etc/os-release', 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n')
    .file('/etc/group', 'kvm:x:107:\nalice:x:1000:\n')
    .file('/etc/passwd', 'alice:x:1000:1000::/home/alice:/bin/bash\n')
    .file('/proc/cpuinfo', 'flags\t\t: fpu vmx sse2\n')
    .device('/dev/kvm', { mode: 0o20660, gid: 107, deny: { open: 'EACCES' } })
    .executable('/usr/bin/qemu-system-x86_64')
    .executable('/usr/bin/qemu-img')
    .file('/usr/share/OVMF/OVMF_CODE_4M.fd')
    .file('/usr/share/OVMF/OVMF_VARS_4M.fd')
    .dir('/home/alice/.cache/vmdesk');
  const run = fakeRun({
    '/usr/bin/qemu-img --version': { stdout: 'qemu-img version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n' },
  });
  return { io: { fs, run, spawnQmp: new FakeQemu(() => x86).spawn }, native: new FakeNative() };
}

async function probeDebian(native?: FakeNative): Promise<HostReport> {
  const host = debianLaptop();
  return probeHost({
    cacheDir: '/home/alice/.cache/vmdesk',
    env: { PATH: '/usr/bin:/bin', HOME: '/home/alice' },
    platform: 'linux',
    nodeArch: 'x64',
    io: host.io,
    native: native ?? host.native,
  });
}

describe('probeHost on a Debian laptop whose user is not in the kvm group', () => {
  it('returns a plain JSON object that survives IPC unchanged', async () => {
    const report = await probeDebian();
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    expect(report).toMatchObject({ schema: 3, platform: 'linux', hostArch: 'x86_64' });
  });

  it('finds QEMU x86_64 and qemu-img, and says how to install the aarch64 emulator', async () => {
    const report = await probeDebian();
    expect(report.qemu.x86_64).toMatchObject({ status: 'ok', caps: { version: '7.2.22' } });
    expect(report.qemu.aarch64).toMatchObject({
      status: 'missing',
      fix: 'sudo apt install qemu-system-arm qemu-utils',
    });
    expect(report.qemuImg).toMatchObject({ status: 'ok', path: '/usr/bin/qemu-img', version: '7.2.22' });
  });

  it('says to join the kvm group, and offers TCG meanwhile', async () => {
    const report = await probeDebian();
    const [kvm, hvf, tcg] = report.accels.x86_64;
    expect(kvm).toMatchObject({
      accel: 'kvm',
      available: false,
      fix: 'sudo usermod -aG kvm $USER, then log out and in',
    });
    expect(hvf).toMatchObject({ accel: 'hvf', available: false });
    expect(tcg).toMatchObject({ accel: 'tcg', available: true });
  });

  it('finds OVMF at its well-known path and says which package gives aarch64 firmware', async () => {
    const report = await probeDebian();
    expect(report.firmware.images).toEqual([
      expect.objectContaining({ arch: 'x86_64', code: '/usr/share/OVMF/OVMF_CODE_4M.fd' }),
    ]);
    expect(report.firmware.missing).toEqual([
      expect.objectContaining({ arch: 'aarch64', fix: 'sudo apt install qemu-efi-aarch64' }),
    ]);
  });

  it('prints every problem with its fix for the terminal', async () => {
    const text = formatHostReport(await probeDebian());
    expect(text).toContain('x86_64      QEMU 7.2.22 at /usr/bin/qemu-system-x86_64');
    expect(text).toMatch(/Accelerators for x86_64 guests \(auto picks TCG\)/);
    expect(text).toContain('fix: sudo usermod -aG kvm $USER, then log out and in');
    expect(text).toContain('fix: sudo apt install qemu-system-arm qemu-utils');
    expect(text).toContain('fix: sudo apt install qemu-efi-aarch64');
    expect(text).toContain('soft 8 MiB · hard 8 MiB (via getrlimit)');
    expect(text).toContain('koffi loaded');
    // Aligned: every continuation line starts in the value column.
    for (const line of text.split('\n')) if (/^ {3,}\S/.test(line)) expect(line).toMatch(/^ {14}\S/);
  });

  it('says when VMDESK_ACCEL overrides what auto would pick, and when it cannot be met', async () => {
    const report = await probeDebian();
    expect(formatHostReport(report, 'tcg')).toContain(
      'Accelerators for x86_64 guests (VMDESK_ACCEL=tcg: every VM uses TCG, whatever it asks for)',
    );
    expect(formatHostReport(report, 'auto')).toContain('Accelerators for x86_64 guests (auto picks TCG)');
    // This host's KVM does not work: a forced KVM says so instead of claiming a choice.
    expect(formatHostReport(report, 'kvm')).toMatch(
      /Accelerators for x86_64 guests \(VMDESK_ACCEL=kvm: no VM can start: KVM is not available: /,
    );
    expect(formatHostReport(report, 'warp')).toContain(
      'VMDESK_ACCEL=warp: no VM can start: VMDESK_ACCEL=warp is not understood',
    );
  });

  it('reports the pure-JS fallback and why koffi did not load', async () => {
    const report = await probeDebian(FakeNative.unloaded('Cannot find module koffi'));
    expect(report.native).toEqual({ implementation: 'fallback', loaded: false, loadError: 'Cannot find module koffi' });
    expect(formatHostReport(report)).toMatch(/pure-JS fallback: Cannot find module koffi/);
  });
});

describe('probeHost called by several callers at once (the driver prewarms while a start comes in)', () => {
  it('runs one QEMU probe per binary for all of them, and none once the cache is written', async () => {
    const host = debianLaptop();
    const qemu = new FakeQemu(() => x86);
    const opts = {
      cacheDir: '/home/alice/.cache/vmdesk',
      env: { PATH: '/usr/bin:/bin', HOME: '/home/alice' },
      platform: 'linux',
      nodeArch: 'x64',
      io: { ...host.io, spawnQmp: qemu.spawn },
      native: host.native,
    };
    const [a, b, c] = await Promise.all([probeHost(opts), probeHost(opts), probeHost(opts)]);
    expect(qemu.spawns).toHaveLength(1);
    for (const r of [a, b, c]) expect(r.qemu.x86_64).toMatchObject({ status: 'ok', caps: { version: '7.2.22' } });
    const later = await probeHost(opts);
    expect(qemu.spawns).toHaveLength(1);
    expect(later.qemu.x86_64).toMatchObject({ status: 'ok', fromCache: true });
  });
});

describe('probeHost with an empty cache', () => {
  it("spawns the probe of the host's own QEMU before qemu-img runs or the other QEMU is looked up", async () => {
    const host = debianLaptop();
    const qemu = new FakeQemu(() => x86);
    const run = host.io.run as ReturnType<typeof fakeRun>;
    // Every path the probe touches, in order, and how many it had touched when QEMU was spawned.
    const touched: string[] = [];
    const fs = host.io.fs;
    const logged: HostIo['fs'] = {
      readText: (p) => (touched.push(p), fs.readText(p)),
      readDir: (p) => (touched.push(p), fs.readDir(p)),
      stat: (p) => (touched.push(p), fs.stat(p)),
      access: (p, mode) => (touched.push(p), fs.access(p, mode)),
      openReadWrite: (p) => (touched.push(p), fs.openReadWrite(p)),
      close: (fd) => fs.close(fd),
      writeTextAtomic: (p, text) => fs.writeTextAtomic(p, text),
    };
    let atSpawn: { touched: string[]; runs: number } | undefined;
    const spawnQmp: typeof qemu.spawn = (binary, args) => {
      atSpawn = { touched: [...touched], runs: run.calls.length };
      return qemu.spawn(binary, args);
    };
    const report = await probeHost({
      cacheDir: '/home/alice/.cache/vmdesk',
      env: { PATH: '/usr/bin:/bin', HOME: '/home/alice' },
      platform: 'linux',
      nodeArch: 'x64',
      io: { fs: logged, run, spawnQmp },
      native: host.native,
    });
    expect(atSpawn?.runs).toBe(0); // `qemu-img --version` had not run yet
    // What a start needs may be looked up alongside (firmware, KVM, swtpm: `provisional`), but
    // neither qemu-img nor the aarch64 QEMU comes before the spawn.
    expect(atSpawn?.touched.filter((p) => /qemu-img|qemu-system-aarch64/.test(p))).toEqual([]);
    expect(touched.some((p) => /qemu-system-aarch64/.test(p))).toBe(true); // looked up after
    expect(report.qemuImg).toMatchObject({ status: 'ok' });
    expect(report.qemu.x86_64).toMatchObject({ status: 'ok', fromCache: false });
  });
});

describe('probeHost with `provisional` (a first start launches QEMU while the probe runs)', () => {
  const opts = (host: ReturnType<typeof debianLaptop>, spawnQmp: HostIo['spawnQmp']) => ({
    cacheDir: '/home/alice/.cache/vmdesk',
    env: { PATH: '/usr/bin:/bin', HOME: '/home/alice' },
    platform: 'linux',
    nodeArch: 'x64',
    io: { ...host.io, spawnQmp },
    native: host.native,
  });

  it('gives the real binary, firmware and accelerators with assumed caps before the probe answers', async () => {
    const host = debianLaptop();
    // A QEMU that answers only when told to: the provisional facts must come without it.
    const qemu = new FakeQemu(() => x86);
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    const held: HostIo['spawnQmp'] = (binary, args) => {
      const proc = qemu.spawn(binary, args);
      return { ...proc, write: (line) => void answered.then(() => proc.write(line)) };
    };
    const seen: ProvisionalHost[] = [];
    const report = probeHost({ ...opts(host, held), provisional: (p) => seen.push(p) });
    for (let i = 0; i < 50 && seen.length === 0; i++) await new Promise((r) => setImmediate(r));
    expect(seen).toHaveLength(1);
    const p = seen[0]!;
    expect(p.arch).toBe('x86_64');
    expect(p.qemu.x86_64).toMatchObject({
      status: 'ok',
      caps: { binary: '/usr/bin/qemu-system-x86_64', sandbox: true, accels: ['kvm', 'tcg'] },
    });
    expect(p.qemu.aarch64.status).toBe('missing');
    expect(p.firmware.images.some((i) => i.code === '/usr/share/OVMF/OVMF_CODE_4M.fd')).toBe(true);
    // The host's real KVM situation (alice is not in the kvm group), not an assumption.
    expect(p.accels.x86_64.find((a) => a.accel === 'kvm')).toMatchObject({ available: false });
    answer();
    expect((await report).qemu.x86_64).toMatchObject({ status: 'ok', caps: { version: '7.2.22' } });
    expect(seen).toHaveLength(1);
  });

  it('assumes nothing when the caps come from the cache', async () => {
    const host = debianLaptop();
    const qemu = new FakeQemu(() => x86);
    await probeHost(opts(host, qemu.spawn)); // fills the cache
    const seen: ProvisionalHost[] = [];
    await probeHost({ ...opts(host, qemu.spawn), provisional: (p) => seen.push(p) });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([]);
    expect(qemu.spawns).toHaveLength(1);
  });
});

describe('probeHost on an Apple Silicon Mac with Homebrew QEMU', () => {
  function mac(entitled: boolean): Promise<HostReport> {
    const fs = new FakeFs()
      .executable('/opt/homebrew/bin/qemu-system-aarch64')
      .executable('/opt/homebrew/bin/qemu-system-x86_64')
      .executable('/opt/homebrew/bin/qemu-img')
      .file('/opt/homebrew/share/qemu/edk2-aarch64-code.fd')
      .file('/opt/homebrew/share/qemu/edk2-arm-vars.fd')
      .file('/opt/homebrew/share/qemu/edk2-x86_64-code.fd')
      .file('/opt/homebrew/share/qemu/edk2-i386-vars.fd')
      .dir('/Users/alice/Library/Caches/vmdesk');
    const entitlements = entitled
      ? { stdout: '[Key] com.apple.security.hypervisor\n[Bool] true\n' }
      : { code: 1, stderr: 'code object is not signed at all\n' };
    const run = fakeRun({
      'codesign -d --entitlements - /opt/homebrew/bin/qemu-system-aarch64': entitlements,
      'codesign -d --entitlements - /opt/homebrew/bin/qemu-system-x86_64': entitlements,
      '/opt/homebrew/bin/qemu-img --version': { stdout: 'qemu-img version 8.2.1\n' },
    });
    const qemu = new FakeQemu((binary) => (binary.endsWith('aarch64') ? homebrewAarch64() : x86));
    const native = new FakeNative();
    native.sysctls.set('kern.hv_support', 1).set('hw.optional.arm64', 1);
    return probeHost({
      cacheDir: '/Users/alice/Library/Caches/vmdesk',
      env: { PATH: '/usr/bin' },
      platform: 'darwin',
      nodeArch: 'arm64',
      io: { fs, run, spawnQmp: qemu.spawn },
      native,
    });
  }

  it('uses HVF for arm64 guests and TCG for x86_64 guests', async () => {
    const report = await mac(true);
    expect(report.hostArch).toBe('aarch64');
    expect(report.accels.aarch64.find((s) => s.accel === 'hvf')).toMatchObject({ available: true });
    expect(report.accels.x86_64.find((s) => s.accel === 'hvf')).toMatchObject({
      available: false,
      reason: expect.stringMatching(/runs only aarch64 guests/),
    });
    expect(report.accels.aarch64.find((s) => s.accel === 'kvm')).toEqual({
      accel: 'kvm',
      available: false,
      reason: 'KVM exists only on Linux',
    });
  });

  it('says to sign QEMU with the hypervisor entitlement when it is not', async () => {
    const report = await mac(false);
    expect(report.accels.aarch64.find((s) => s.accel === 'hvf')).toMatchObject({
      available: false,
      fix: expect.stringMatching(/^write an entitlements\.plist/),
    });
  });
});
