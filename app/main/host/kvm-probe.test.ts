import { describe, expect, it } from 'vitest';
import type { KvmHostState } from './kvm-probe.js';
import { parseCpuFlags, probeKvmHost } from './kvm-probe.js';
import { FakeFs, FakeNative } from './testing/fakes.js';

const KVM_GID = 107;
const GROUPS = 'root:x:0:\nkvm:x:107:\nalice:x:1000:\n';
const PASSWD = 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n';
const INTEL = 'processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme de pse tsc msr vmx ssse3\n';
const AMD = 'processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu vme svm sse4a\n';
const NESTED_NO_VMX = 'processor\t: 0\nflags\t\t: fpu vme de hypervisor avx2\n';
const BARE_NO_VMX = 'processor\t: 0\nflags\t\t: fpu vme de avx2\n';

function unusable(r: KvmHostState): { reason: string; fix?: string } {
  if (r.usable) throw new Error(`expected KVM to be unusable, but: ${r.detail}`);
  return r;
}

/** A Linux host where alice (uid 1000) meets a /dev/kvm of the given shape. */
function host(
  opts: {
    kvm?: 'ok' | 'denied' | 'absent';
    mode?: number;
    gid?: number;
    groupFile?: string;
    cpuinfo?: string;
    modules?: string[];
  } = {},
): FakeFs {
  const fs = new FakeFs()
    .file('/etc/group', opts.groupFile ?? GROUPS)
    .file('/etc/passwd', PASSWD)
    .file('/proc/cpuinfo', opts.cpuinfo ?? INTEL);
  for (const m of opts.modules ?? []) fs.dir(`/sys/module/${m}`);
  const kvm = opts.kvm ?? 'ok';
  if (kvm !== 'absent')
    fs.device('/dev/kvm', {
      mode: 0o20000 | (opts.mode ?? 0o660),
      gid: opts.gid ?? KVM_GID,
      ...(kvm === 'denied' ? { deny: { open: 'EACCES' } } : {}),
    });
  return fs;
}

describe('probeKvmHost: /dev/kvm exists but this user may not open it', () => {
  it('says to add the user to the kvm group when /dev/kvm is not writable', async () => {
    const r = await probeKvmHost({ fs: host({ kvm: 'denied' }), native: new FakeNative(), hostArch: 'x86_64' });
    expect(r).toMatchObject({ usable: false, fix: 'sudo usermod -aG kvm $USER, then log out and in' });
    expect(unusable(r).reason).toMatch(/not writable by user alice, who is not in group kvm \(EACCES\)/);
  });

  it('says to log out and in when the user was added to kvm after this session started', async () => {
    const fs = host({ kvm: 'denied', groupFile: 'kvm:x:107:bob,alice\n' });
    const r = await probeKvmHost({ fs, native: new FakeNative(), hostArch: 'x86_64' });
    expect(unusable(r).reason).toMatch(/alice was added to group kvm, but this session started before that/);
    expect(unusable(r).fix).toMatch(/^log out and in again/);
  });

  it('says no group may use a /dev/kvm that is 0600 root:root, and how to fix it for good', async () => {
    const r = await probeKvmHost({
      fs: host({ kvm: 'denied', mode: 0o600, gid: 0 }),
      native: new FakeNative(),
      hostArch: 'x86_64',
    });
    expect(unusable(r).reason).toMatch(/mode 0600, owner root:root.*no group is allowed/);
    expect(unusable(r).fix).toMatch(/chmod 0660 \/dev\/kvm.*KERNEL=="kvm", GROUP="kvm", MODE="0660".*usermod -aG kvm/);
  });

  it('blames an ACL, SELinux or a container when the user is in the group and is still refused', async () => {
    const native = new FakeNative();
    native.groups = [1000, KVM_GID];
    const r = await probeKvmHost({ fs: host({ kvm: 'denied' }), native, hostArch: 'x86_64' });
    expect(unusable(r).reason).toMatch(/although this process is in group kvm/);
    expect(unusable(r).fix).toMatch(/getfacl/);
  });
});

describe('probeKvmHost: /dev/kvm is missing', () => {
  it('says to load kvm_intel when the CPU has VT-x and the module is not loaded', async () => {
    const r = await probeKvmHost({
      fs: host({ kvm: 'absent', cpuinfo: INTEL }),
      native: new FakeNative(),
      hostArch: 'x86_64',
    });
    expect(unusable(r).reason).toMatch(/supports VT-x but the kvm_intel module is not loaded/);
    expect(unusable(r).fix).toMatch(/^sudo modprobe kvm_intel/);
  });

  it('says to load kvm_amd on an AMD CPU', async () => {
    const r = await probeKvmHost({
      fs: host({ kvm: 'absent', cpuinfo: AMD }),
      native: new FakeNative(),
      hostArch: 'x86_64',
    });
    expect(unusable(r).fix).toMatch(/^sudo modprobe kvm_amd/);
  });

  it('points at dmesg and the firmware setting when the module is loaded but no device appeared', async () => {
    const r = await probeKvmHost({
      fs: host({ kvm: 'absent', cpuinfo: INTEL, modules: ['kvm', 'kvm_intel'] }),
      native: new FakeNative(),
      hostArch: 'x86_64',
    });
    expect(unusable(r).reason).toMatch(/missing although kvm_intel is loaded/);
    expect(unusable(r).fix).toMatch(/dmesg.*disabled by bios/);
  });

  it('says virtualisation is off in the firmware when the CPU shows neither vmx nor svm', async () => {
    const r = await probeKvmHost({
      fs: host({ kvm: 'absent', cpuinfo: BARE_NO_VMX }),
      native: new FakeNative(),
      hostArch: 'x86_64',
    });
    expect(unusable(r).reason).toMatch(/hardware virtualisation is off/);
    expect(unusable(r).fix).toMatch(/enable Intel VT-x or AMD-V \(SVM\) in the BIOS\/UEFI setup/);
  });

  it('says this is a VM without nested virtualisation when the hypervisor flag is set', async () => {
    const r = await probeKvmHost({
      fs: host({ kvm: 'absent', cpuinfo: NESTED_NO_VMX }),
      native: new FakeNative(),
      hostArch: 'x86_64',
    });
    expect(unusable(r).reason).toMatch(/itself a virtual machine/);
    expect(unusable(r).fix).toMatch(/nested virtualisation.*kvm_intel nested=1/);
  });

  it('gives the ARM explanation on an aarch64 host, where there are no vmx/svm flags', async () => {
    const r = await probeKvmHost({
      fs: host({ kvm: 'absent', cpuinfo: '' }),
      native: new FakeNative(),
      hostArch: 'aarch64',
    });
    expect(unusable(r).reason).toMatch(/kernel offers no KVM on this CPU/);
  });
});

describe('probeKvmHost: the kernel API', () => {
  it('rejects an API version other than 12', async () => {
    const native = new FakeNative();
    native.apiVersion = { ok: true, value: 11 };
    const r = await probeKvmHost({ fs: host(), native, hostArch: 'x86_64' });
    expect(unusable(r).reason).toMatch(/API version 11, but QEMU needs 12/);
  });

  it('rejects a KVM without KVM_CAP_USER_MEMORY', async () => {
    const native = new FakeNative();
    native.extensions.set(3, 0);
    const r = await probeKvmHost({ fs: host(), native, hostArch: 'x86_64' });
    expect(unusable(r).reason).toMatch(/KVM_CAP_USER_MEMORY/);
  });

  it('is usable with API 12 and reports the vCPU limit, and closes the fd it opened', async () => {
    const fs = host();
    const r = await probeKvmHost({ fs, native: new FakeNative(), hostArch: 'x86_64' });
    expect(r).toEqual({ usable: true, detail: '/dev/kvm is usable (API 12, up to 1024 vCPUs per VM)' });
    expect(fs.openFds.size).toBe(0);
  });

  it('stays usable without the native layer but says the API version was not checked and why', async () => {
    const r = await probeKvmHost({
      fs: host(),
      native: FakeNative.unloaded('koffi: no prebuilt binary'),
      hostArch: 'x86_64',
    });
    expect(r).toMatchObject({
      usable: true,
      detail: expect.stringMatching(/API version not checked.*koffi: no prebuilt binary/),
    });
  });
});

describe('parseCpuFlags', () => {
  it('reads the flags of the first processor', () => {
    expect(parseCpuFlags(INTEL).has('vmx')).toBe(true);
    expect(parseCpuFlags('').size).toBe(0);
  });
});
