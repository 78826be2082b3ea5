import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import * as v from 'valibot';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DefineVmInput } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import type { SerializedError } from '../common/errors.js';
import { MAX_FORWARDS, VmDefinitionSchema, PLAIN_GUEST } from '../common/vm-types.js';
import type { VmDefinition } from '../common/vm-types.js';
import type { Accel, AccelChoice, Arch, QemuCaps } from '../common/host-types.js';
import { resolveAppPaths } from '../paths/app-paths.js';
import type { AppPaths } from '../paths/app-paths.js';
import {
  createVmFiles,
  detectDiskFormat,
  parseForward,
  parseForwardHost,
  parseSize,
  validateDefineInput,
} from './define-vm.js';
import type { HostServices, UefiFirmware } from './host-services.js';
import { thrown } from '../testing/thrown.js';

const QEMU_IMG = '/usr/bin/qemu-img';
const isRoot = process.getuid?.() === 0;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** A host with 8 GiB and 4 CPUs; qemu-img and the UEFI firmware are whatever the test says. */
class FakeHost implements HostServices {
  qemuImgCalls = 0;
  constructor(
    private readonly opts: {
      memoryMiB?: number;
      cpus?: number;
      qemuImg?: string;
      uefi?: { code: string; varsTemplate: string };
      /** The Secure Boot build (its template has keys enrolled). */
      secureUefi?: { code: string; varsTemplate: string };
      swtpm?: string;
    } = {},
  ) {}
  async qemuCaps(_arch: Arch): Promise<QemuCaps> {
    throw new VmdeskError('no-qemu', 'This fake host has no QEMU.');
  }
  async chooseAccel(_requested: AccelChoice, _caps: QemuCaps): Promise<{ accel: Accel; reason: string }> {
    throw new VmdeskError('accel-unavailable', 'This fake host has no accelerator.');
  }
  async uefiFirmware(_arch: Arch, o: { secureBoot?: boolean } = {}): Promise<UefiFirmware> {
    const fw = o.secureBoot ? this.opts.secureUefi : this.opts.uefi;
    if (!fw) throw new VmdeskError('no-qemu', 'This fake host has no such UEFI firmware (install ovmf).');
    return { ...fw, smm: !!o.secureBoot };
  }
  async virtiofsd() {
    return { path: null };
  }
  async swtpm(): Promise<string> {
    if (!this.opts.swtpm) throw new VmdeskError('no-swtpm', 'This fake host has no swtpm (install swtpm).');
    return this.opts.swtpm;
  }
  async qemuImg(): Promise<string> {
    this.qemuImgCalls++;
    if (!this.opts.qemuImg) throw new VmdeskError('no-qemu', 'This fake host has no qemu-img.');
    return this.opts.qemuImg;
  }
  hostMemoryMiB(): number {
    return this.opts.memoryMiB ?? 8192;
  }
  hostCpus(): number {
    return this.opts.cpus ?? 4;
  }
}

let tmp: string;
let paths: AppPaths;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-define-'));
  const env = {
    XDG_CONFIG_HOME: `${tmp}/config`,
    XDG_DATA_HOME: `${tmp}/data`,
    XDG_STATE_HOME: `${tmp}/state`,
    XDG_CACHE_HOME: `${tmp}/cache`,
    XDG_RUNTIME_DIR: `${tmp}/run`,
  };
  paths = resolveAppPaths({ env, platform: 'linux', home: tmp, uid: 1000, tmpdir: tmp });
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function input(over: Partial<DefineVmInput> = {}): DefineVmInput {
  return { name: 'web', memoryMiB: 1024, cpus: 2, ...over };
}

function existingVm(over: Partial<VmDefinition> = {}): VmDefinition {
  return {
    version: 3,
    ...PLAIN_GUEST,
    id: '11111111-2222-4333-8444-555555555555',
    name: 'db',
    arch: 'x86_64',
    memoryMiB: 512,
    cpus: 1,
    accel: 'auto',
    firmware: 'bios',
    disks: [],
    cdroms: [],
    boot: ['disk'],
    network: { mode: 'user', forwards: [] },
    display: 'std',
    nvram: null,
    mdevs: [],
    createdAt: '2025-01-01T00:00:00.000Z',
    ...over,
  };
}

async function rejected(p: Promise<unknown>): Promise<VmdeskError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof VmdeskError) return err;
    throw err;
  }
  throw new Error('expected a VmdeskError, got none');
}

function writeFile(name: string, content = 'x', mode = 0o600): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, content, { mode });
  return file;
}

describe('parseSize', () => {
  it.each([
    ['1G', GiB],
    ['512M', 512 * MiB],
    ['1.5G', 1.5 * GiB],
    ['20GiB', 20 * GiB],
    ['20gib', 20 * GiB],
    ['64K', 64 * 1024],
    ['1T', 1024 * GiB],
    [' 2 G ', 2 * GiB],
    ['10MB', 10 * MiB],
  ])('reads %j as %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it('reads a bare number in the default unit, MiB unless told otherwise', () => {
    expect(parseSize('2048')).toBe(2048 * MiB);
    expect(parseSize('20', 'G')).toBe(20 * GiB);
  });

  it.each(['', 'junk', 'G', '1X', '-1G', '1..5G', '1 G B', '0x10M', 'Infinity'])('returns undefined for %j', (text) => {
    expect(parseSize(text)).toBeUndefined();
  });
});

describe('parseForward', () => {
  it('reads tcp:HOSTPORT:GUESTPORT, listening on 127.0.0.1', () => {
    expect(parseForward('tcp:2222:22')).toEqual({ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222, guestPort: 22 });
  });

  it('reads udp:ADDRESS:HOSTPORT:GUESTPORT', () => {
    expect(parseForward('udp:127.0.0.1:5353:53')).toEqual({
      proto: 'udp',
      hostAddr: '127.0.0.1',
      hostPort: 5353,
      guestPort: 53,
    });
  });

  it.each([
    'sctp:2222:22',
    'TCP:2222:22',
    ':2222:22',
    'tcp:2222',
    'tcp',
    'tcp:1:2:3:4',
    'tcp:0:22',
    'tcp:2222:0',
    'tcp:65536:22',
    'tcp:2222:70000',
    'tcp:-1:22',
    'tcp:22.5:22',
    'tcp:ssh:22',
    'tcp::22',
    'tcp:2222:',
  ])('refuses %j with invalid-argument and shows the right syntax', (text) => {
    const err = thrown(() => parseForward(text));
    expect(err.code).toBe('invalid-argument');
    expect(err.details).toEqual({ field: 'forward' });
    expect(err.message).toContain(JSON.stringify(text));
    expect(err.message).toContain('tcp:HOSTPORT:GUESTPORT');
    expect(err.message).toContain('tcp:2222:22');
  });

  // Was a bug (fixed): define-vm.ts parseForward uses Number(), which also reads hex, exponents and blanks:
  // "tcp:0x16:22" forwards host port 22, "tcp:1e3:22" port 1000.
  it('refuses ports that are not plain decimal numbers (0x16, 1e3, " 22")', () => {
    for (const text of ['tcp:0x16:22', 'tcp:1e3:22', 'tcp: 22:22']) {
      expect(() => parseForward(text), text).toThrow(expect.objectContaining({ code: 'invalid-argument' }));
    }
  });

  // Was a bug (fixed): define-vm.ts parseForward accepts an empty address ("tcp::2222:22", QEMU's own habit),
  // which argv.ts turns into hostfwd=tcp::2222-:22: QEMU then listens on every interface, not
  // on 127.0.0.1, without the user seeing it.
  it('refuses an empty host address instead of silently listening on all interfaces', () => {
    expect(() => parseForward('tcp::2222:22')).toThrow(expect.objectContaining({ code: 'invalid-argument' }));
  });
});

describe('detectDiskFormat', () => {
  it('recognises a qcow2 image made by qemu-img', () => {
    const file = path.join(tmp, 'd.qcow2');
    execFileSync(QEMU_IMG, ['create', '-q', '-f', 'qcow2', file, '16M']);
    expect(detectDiskFormat(file)).toBe('qcow2');
  });

  it('treats any other file as raw, even a short or empty one', () => {
    const raw = path.join(tmp, 'd.img');
    execFileSync(QEMU_IMG, ['create', '-q', '-f', 'raw', raw, '1M']);
    expect(detectDiskFormat(raw)).toBe('raw');
    expect(detectDiskFormat(writeFile('empty.img', ''))).toBe('raw');
    expect(detectDiskFormat(writeFile('short.img', 'QFI'))).toBe('raw');
  });
});

describe('validateDefineInput', () => {
  const host = new FakeHost({ memoryMiB: 8192, cpus: 4 });

  function refusal(over: Partial<DefineVmInput>, existing: VmDefinition[] = []): VmdeskError {
    return thrown(() => validateDefineInput(input(over), existing, host));
  }

  it('accepts a plain VM', () => {
    expect(() => validateDefineInput(input(), [existingVm()], host)).not.toThrow();
  });

  it('accepts names in any script, up to 64 characters', () => {
    expect(() => validateDefineInput(input({ name: 'Ünïcode VM 日本' }), [], host)).not.toThrow();
    expect(() => validateDefineInput(input({ name: 'é'.repeat(64) }), [], host)).not.toThrow();
  });

  it.each([
    ['a path like ../x', '../x'],
    ['an empty name', ''],
    ['a name of only spaces', '   '],
    ['a name of 300 characters', 'a'.repeat(300)],
    ['a name starting with a dot', '.hidden'],
    ['a name with a control character', 'a\nb'],
    ['a name with trailing spaces', 'web '],
  ])('refuses %s (invalid-argument, field name)', (_what, name) => {
    const err = refusal({ name });
    expect(err.code).toBe('invalid-argument');
    expect(err.details).toEqual({ field: 'name' });
  });

  it('refuses a name another VM already has (name-taken)', () => {
    const err = refusal({ name: 'db' }, [existingVm({ name: 'db' })]);
    expect(err.code).toBe('name-taken');
    expect(err.details).toEqual({ field: 'name' });
  });

  it('counts "é" typed as NFC and as NFD as the same name', () => {
    const err = refusal({ name: 'cafe\u0301' }, [existingVm({ name: 'caf\u00e9' })]);
    expect(err.code).toBe('name-taken');
    expect(err.details).toEqual({ field: 'name' });
  });

  it.each([
    ['no memory', 0],
    ['less than 16 MiB', 15],
    ['a fraction of a MiB', 512.5],
    ['a negative amount', -1024],
    ['NaN', Number.NaN],
  ])('refuses %s of memory (invalid-argument, field memory)', (_what, memoryMiB) => {
    const err = refusal({ memoryMiB });
    expect(err.code).toBe('invalid-argument');
    expect(err.details).toEqual({ field: 'memory' });
  });

  // Was a bug: 128.5 and Infinity were refused "at least 16 MiB" (the wrong reason).
  it.each([
    [128.5, 'Memory must be a whole number of MiB, not 128.5.'],
    [Number.POSITIVE_INFINITY, 'Memory must be a finite number of MiB.'],
    [8, 'Memory must be at least 16 MiB.'],
  ])('refuses %s of memory with the right reason', (memoryMiB, message) => {
    expect(refusal({ memoryMiB }).message).toBe(message);
  });

  it('refuses a fractional or infinite CPU count with the right reason', () => {
    expect(refusal({ cpus: 1.5 }).message).toBe('The CPU count must be a whole number of CPUs, not 1.5.');
    expect(refusal({ cpus: Number.NEGATIVE_INFINITY }).message).toBe('The CPU count must be a finite number of CPUs.');
  });

  it('accepts exactly 16 MiB and exactly the host memory', () => {
    expect(() => validateDefineInput(input({ memoryMiB: 16 }), [], host)).not.toThrow();
    expect(() => validateDefineInput(input({ memoryMiB: 8192 }), [], host)).not.toThrow();
  });

  it('refuses more memory than the host has (insufficient-resources, field memory)', () => {
    const err = refusal({ memoryMiB: 8193 });
    expect(err.code).toBe('insufficient-resources');
    expect(err.details).toEqual({ field: 'memory' });
    expect(err.message).toContain('8 GiB');
  });

  it.each([
    ['no CPUs', 0],
    ['a negative count', -2],
    ['a fraction', 1.5],
  ])('refuses %s (invalid-argument, field cpus)', (_what, cpus) => {
    const err = refusal({ cpus });
    expect(err.code).toBe('invalid-argument');
    expect(err.details).toEqual({ field: 'cpus' });
  });

  it.each([['more CPUs than the host has', 5]])('refuses %s (insufficient-resources, field cpus)', (_what, cpus) => {
    const err = refusal({ cpus });
    expect(err.code).toBe('insufficient-resources');
    expect(err.details).toEqual({ field: 'cpus' });
  });

  it('caps CPUs at 255 even on a bigger host', () => {
    const big = new FakeHost({ cpus: 512 });
    expect(() => validateDefineInput(input({ cpus: 255 }), [], big)).not.toThrow();
    const err = thrown(() => validateDefineInput(input({ cpus: 256 }), [], big));
    expect(err.details).toEqual({ field: 'cpus' });
    expect(err.message).toContain('at most 255');
  });

  it('accepts a readable ISO', () => {
    expect(() => validateDefineInput(input({ cdrom: writeFile('os.iso') }), [], host)).not.toThrow();
  });

  it('refuses a missing ISO (invalid-argument, field cdrom)', () => {
    const err = refusal({ cdrom: path.join(tmp, 'nope.iso') });
    expect(err.code).toBe('invalid-argument');
    expect(err.details).toEqual({ field: 'cdrom' });
    expect(err.message).toContain('does not exist');
  });

  it('refuses a directory given as ISO (invalid-argument, field cdrom)', () => {
    const err = refusal({ cdrom: tmp });
    expect(err.code).toBe('invalid-argument');
    expect(err.details).toEqual({ field: 'cdrom' });
    expect(err.message).toContain('is a directory');
  });

  // Root passes every access(2) check, so as root this case runs in a child process as uid
  // 65534 (nobody); as an ordinary user it runs here.
  it('refuses an ISO the user cannot read (invalid-argument, field cdrom)', () => {
    const iso = writeFile('secret.iso', 'x', 0o600);
    fs.chmodSync(iso, 0o000);
    const err = isRoot
      ? validateAsNobody(input({ cdrom: iso }))
      : thrown(() => validateDefineInput(input({ cdrom: iso }), [], host)).toJSON();
    expect(err).toMatchObject({ code: 'invalid-argument', details: { field: 'cdrom' } });
    expect(err?.message).toContain('not readable by you');
  });

  it('refuses a disk image that is missing (field disk)', () => {
    const err = refusal({ disk: { path: path.join(tmp, 'nope.qcow2') } });
    expect(err.code).toBe('invalid-argument');
    expect(err.details).toEqual({ field: 'disk' });
  });

  // Was a bug: `vmdesk define --disk A --disk B` kept only B, silently.
  it('takes several disks, refusing one given twice or one another VM uses', async () => {
    const a = writeFile('a.raw');
    const b = writeFile('b.raw');
    expect(() => validateDefineInput(input({ disk: { path: a }, moreDisks: [{ path: b }] }), [], host)).not.toThrow();
    const twice = refusal({ disk: { path: a }, moreDisks: [{ path: a }] });
    expect(twice).toMatchObject({ code: 'invalid-argument', details: { field: 'disk' } });
    expect(twice.message).toMatch(/is given twice/);
    const other = existingVm({
      name: 'db',
      disks: [{ target: 'vda', path: b, format: 'raw', owned: false, readOnly: false }],
    });
    expect(refusal({ disk: { path: a }, moreDisks: [{ path: b }] }, [other])).toMatchObject({ code: 'disk-in-use' });
    const def = await createVmFiles(
      input({ disk: { path: a }, moreDisks: [{ path: b }] }),
      crypto.randomUUID(),
      paths,
      host,
    );
    expect(def.disks.map((d) => [d.path, d.format, d.owned])).toEqual([
      [a, 'raw', false],
      [b, 'raw', false],
    ]);
  });

  it('refuses a disk that another VM already uses (disk-in-use, naming that VM)', () => {
    const disk = writeFile('shared.qcow2');
    const other = existingVm({
      name: 'db',
      disks: [{ target: 'vda', path: disk, format: 'qcow2', owned: false, readOnly: false }],
    });
    const err = refusal({ disk: { path: disk } }, [other]);
    expect(err.code).toBe('disk-in-use');
    expect(err.details).toEqual({ field: 'disk' });
    expect(err.message).toContain('"db"');
  });

  it('refuses a new disk smaller than 1 MiB or not a finite size (field diskSize)', () => {
    for (const sizeBytes of [0, MiB - 1, Number.POSITIVE_INFINITY, Number.NaN]) {
      const err = refusal({ disk: { sizeBytes } });
      expect(err.code, String(sizeBytes)).toBe('invalid-argument');
      expect(err.details).toEqual({ field: 'diskSize' });
    }
  });

  // Found by review: a fractional size passed, and qemu-img refused it in its own words.
  it('refuses a fractional new disk size (field diskSize)', () => {
    const err = refusal({ disk: { sizeBytes: MiB + 0.5 } });
    expect(err).toMatchObject({ code: 'invalid-argument', details: { field: 'diskSize' } });
    expect(err.message).toBe('The disk size must be a whole number of bytes, not 1048576.5.');
  });

  it('refuses the same host port forwarded twice (field forward)', () => {
    const err = refusal({
      forwards: [
        { proto: 'tcp', hostPort: 2222, guestPort: 22 },
        { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222, guestPort: 80 },
      ],
    });
    expect(err.code).toBe('invalid-argument');
    expect(err.details).toEqual({ field: 'forward' });
  });

  // Was a bug: these were accepted and failed only at start, in QEMU's words.
  it.each([
    ['127.0.0.1 and 0.0.0.0', '127.0.0.1', '0.0.0.0'],
    ['0.0.0.0 and a LAN address', '0.0.0.0', '192.168.1.5'],
    ['the default address and 127.0.0.1', undefined, '127.0.0.1'],
  ])('refuses two forwards on one host socket: %s', (_what, a, b) => {
    const err = refusal({
      forwards: [
        { proto: 'tcp', hostAddr: a, hostPort: 2222, guestPort: 22 },
        { proto: 'tcp', hostAddr: b, hostPort: 2222, guestPort: 80 },
      ],
    });
    expect(err).toMatchObject({ code: 'invalid-argument', details: { field: 'forward' } });
    expect(err.message).toMatch(/want the same host port/);
  });

  it('allows one port on two different specific addresses', () => {
    const forwards = [
      { proto: 'tcp' as const, hostAddr: '127.0.0.1', hostPort: 8080, guestPort: 80 },
      { proto: 'tcp' as const, hostAddr: '192.168.1.5', hostPort: 8080, guestPort: 80 },
    ];
    expect(() => validateDefineInput(input({ forwards }), [], host)).not.toThrow();
  });

  // Was a bug: 9 500 forwards (a 513 KB request) were saved as a 1.2 MB file the loader calls broken.
  it('refuses more than MAX_FORWARDS forwards, saying how many', () => {
    const forwards = Array.from({ length: 9500 }, (_, i) => ({
      proto: 'tcp' as const,
      hostPort: 1 + i,
      guestPort: 22,
    }));
    const err = refusal({ forwards });
    expect(err).toMatchObject({ code: 'invalid-argument', details: { field: 'forward' } });
    expect(err.message).toBe(`A VM can have at most ${MAX_FORWARDS} port forwards; this asks for 9500.`);
    expect(() => validateDefineInput(input({ forwards: forwards.slice(0, MAX_FORWARDS) }), [], host)).not.toThrow();
  });

  it('refuses a host port another VM already forwards, naming that VM', () => {
    const web = existingVm({ name: 'web server' });
    web.network.forwards = [{ proto: 'tcp', hostAddr: '0.0.0.0', hostPort: 2222, guestPort: 22 }];
    const err = refusal({ forwards: [{ proto: 'tcp', hostPort: 2222, guestPort: 22 }] }, [web]);
    expect(err).toMatchObject({ code: 'invalid-argument', details: { field: 'forward' } });
    expect(err.message).toMatch(/already forwarded by the VM "web server"/);
    expect(() =>
      validateDefineInput(input({ forwards: [{ proto: 'udp', hostPort: 2222, guestPort: 22 }] }), [web], host),
    ).not.toThrow();
  });

  it('allows one host port for tcp and udp', () => {
    const forwards = [
      { proto: 'tcp' as const, hostPort: 5353, guestPort: 53 },
      { proto: 'udp' as const, hostPort: 5353, guestPort: 53 },
    ];
    expect(() => validateDefineInput(input({ forwards }), [], host)).not.toThrow();
  });

  // Was a bug (fixed): the forward's hostAddr is never checked (define-vm.ts validateDefineInput, and
  // PortForwardSchema in common/vm-types.ts is a bare v.string()); argv.ts pastes it into
  // -netdev user,...,hostfwd=tcp:<hostAddr>:..., so a comma injects further netdev options
  // (guestfwd=...-cmd:... runs a command on the host).
  it('refuses a forward whose host address is not an IP address', () => {
    const err = refusal({ forwards: [{ proto: 'tcp', hostAddr: '127.0.0.1,smb=/', hostPort: 2222, guestPort: 22 }] });
    expect(err.code).toBe('invalid-argument');
    expect(err.details).toEqual({ field: 'forward' });
  });
});

describe('createVmFiles', () => {
  const vmsDir = () => path.join(paths.data, 'vms');
  const leftovers = () => (fs.existsSync(vmsDir()) ? fs.readdirSync(vmsDir()) : []);

  it('creates an owned qcow2 disk, private to the user, in the VM data dir', async () => {
    const def = await createVmFiles(
      input({ disk: { sizeBytes: 64 * MiB } }),
      crypto.randomUUID(),
      paths,
      new FakeHost({ qemuImg: QEMU_IMG }),
    );
    expect(() => v.parse(VmDefinitionSchema, def)).not.toThrow();
    const disk = def.disks[0]!;
    expect(def.disks).toHaveLength(1);
    expect(disk).toEqual({
      path: path.join(paths.data, 'vms', def.id, 'disk0.qcow2'),
      target: 'vda',
      format: 'qcow2',
      owned: true,
      readOnly: false,
    });
    expect(detectDiskFormat(disk.path)).toBe('qcow2');
    expect(fs.statSync(disk.path).mode & 0o777).toBe(0o600);
    const info = JSON.parse(execFileSync(QEMU_IMG, ['info', '--output=json', disk.path], { encoding: 'utf8' })) as {
      'virtual-size': number;
    };
    expect(info['virtual-size']).toBe(64 * MiB);
  });

  it('fills in the defaults of a definition', async () => {
    const def = await createVmFiles(
      input({ forwards: [{ proto: 'tcp', hostPort: 2222, guestPort: 22 }] }),
      crypto.randomUUID(),
      paths,
      new FakeHost(),
    );
    expect(def).toMatchObject({
      version: 3,
      ...PLAIN_GUEST,
      // A new desktop VM has sound and a shared clipboard (PLAIN_GUEST is what older VMs had).
      sound: true,
      clipboard: true,
      name: 'web',
      arch: 'x86_64',
      accel: 'auto',
      firmware: 'bios',
      disks: [],
      // One empty drive, so a disc can go in later without a restart; the disk boots first.
      cdroms: [null],
      boot: ['disk', 'cdrom'],
      display: 'std',
      nvram: null,
      network: { mode: 'user', forwards: [{ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222, guestPort: 22 }] },
    });
    expect(leftovers()).toEqual([]);
  });

  it('boots from the ISO when there is one, and stores its absolute path', async () => {
    const iso = writeFile('os.iso');
    const def = await createVmFiles(input({ cdrom: iso }), crypto.randomUUID(), paths, new FakeHost());
    expect(def.cdroms).toEqual([iso]);
    expect(def.boot).toEqual(['cdrom', 'disk']);
  });

  it('uses an existing disk in place, reading its format from the header', async () => {
    const file = path.join(tmp, 'mine.qcow2');
    execFileSync(QEMU_IMG, ['create', '-q', '-f', 'qcow2', file, '16M']);
    const def = await createVmFiles(input({ disk: { path: file } }), crypto.randomUUID(), paths, new FakeHost());
    expect(def.disks).toEqual([{ path: file, target: 'vda', format: 'qcow2', owned: false, readOnly: false }]);
    expect(leftovers()).toEqual([]);
  });

  it('copies the UEFI variable template into the data dir, 0600', async () => {
    const varsTemplate = writeFile('VARS.fd', 'template-bytes', 0o644);
    const host = new FakeHost({ uefi: { code: writeFile('CODE.fd'), varsTemplate } });
    const def = await createVmFiles(input({ firmware: 'uefi' }), crypto.randomUUID(), paths, host);
    expect(def.firmware).toBe('uefi');
    expect(def.nvram).toBe(path.join(paths.data, 'vms', def.id, 'efivars.fd'));
    expect(fs.readFileSync(def.nvram!, 'utf8')).toBe('template-bytes');
    expect(fs.statSync(def.nvram!).mode & 0o777).toBe(0o600);
  });

  it('always uses UEFI for aarch64', async () => {
    const host = new FakeHost({ uefi: { code: writeFile('CODE.fd'), varsTemplate: writeFile('VARS.fd') } });
    const def = await createVmFiles(input({ arch: 'aarch64', firmware: 'bios' }), crypto.randomUUID(), paths, host);
    expect(def.firmware).toBe('uefi');
  });

  it('leaves nothing in the data dir when qemu-img fails', async () => {
    const err = await rejected(
      createVmFiles(
        input({ disk: { sizeBytes: 64 * MiB } }),
        crypto.randomUUID(),
        paths,
        new FakeHost({ qemuImg: '/bin/false' }),
      ),
    );
    expect(err.code).toBe('qemu-failed');
    expect(err.message).toContain('qemu-img');
    expect(leftovers()).toEqual([]);
  });

  it('removes the disk it made when a later step fails', async () => {
    const host = new FakeHost({ qemuImg: QEMU_IMG }); // and no UEFI firmware
    const err = await rejected(
      createVmFiles(input({ firmware: 'uefi', disk: { sizeBytes: 16 * MiB } }), crypto.randomUUID(), paths, host),
    );
    expect(err.code).toBe('no-qemu');
    expect(host.qemuImgCalls).toBe(1);
    expect(leftovers()).toEqual([]);
  });

  it('refuses a disk larger than the free space before creating anything', async () => {
    const host = new FakeHost({ qemuImg: QEMU_IMG });
    const err = await rejected(createVmFiles(input({ disk: { sizeBytes: 1e18 } }), crypto.randomUUID(), paths, host));
    expect(err.code).toBe('insufficient-resources');
    expect(err.details).toEqual({ field: 'diskSize' });
    expect(host.qemuImgCalls).toBe(0);
    expect(leftovers()).toEqual([]);
  });
});

/**
 * Runs validateDefineInput in a child process as uid 65534, so file permission checks apply.
 * The module is bundled with esbuild (TypeScript in, one ESM file out) into a world-readable dir.
 */
function validateAsNobody(def: DefineVmInput): SerializedError | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-nobody-'));
  try {
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(tmp, 0o755);
    const defineVm = fileURLToPath(new URL('./define-vm.ts', import.meta.url));
    const entry = path.join(dir, 'entry.mjs');
    fs.writeFileSync(
      entry,
      [
        `import { validateDefineInput } from ${JSON.stringify(defineVm)};`,
        // Plain JS, not type-checked: validateDefineInput only asks the host for memory and CPUs.
        'const host = { hostMemoryMiB: () => 8192, hostCpus: () => 4 };',
        'try {',
        '  validateDefineInput(JSON.parse(process.argv[2]), [], host);',
        '  console.log("null");',
        '} catch (e) {',
        '  console.log(JSON.stringify(e.toJSON ? e.toJSON() : { code: "internal", message: String(e) }));',
        '}',
      ].join('\n'),
    );
    const out = path.join(dir, 'bundle.mjs');
    buildSync({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: out,
      logLevel: 'silent',
    });
    fs.chmodSync(out, 0o644);
    const r = spawnSync(process.execPath, [out, JSON.stringify(def)], {
      uid: 65534,
      gid: 65534,
      encoding: 'utf8',
      cwd: dir,
    });
    if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout) as SerializedError | null;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('parseForwardHost (vmdesk forward remove)', () => {
  it.each([
    ['tcp:2222', { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222 }],
    ['udp:0.0.0.0:5353', { proto: 'udp', hostAddr: '0.0.0.0', hostPort: 5353 }],
    ['tcp:2222:22', { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222 }],
    ['tcp:10.0.0.1:8080:80', { proto: 'tcp', hostAddr: '10.0.0.1', hostPort: 8080 }],
  ])('reads %s', (text, want) => {
    expect(parseForwardHost(text)).toEqual(want);
  });

  it.each(['tcp', 'ssh:22', 'tcp:0', 'tcp:99999', 'tcp:host:22:1:2'])('refuses %s with the syntax', (text) => {
    expect(() => parseForwardHost(text)).toThrow(expect.objectContaining({ code: 'invalid-argument' }));
  });
});
