/**
 * The clone's plan and its files, with real files and the real qemu-img: what each disk becomes,
 * the definition of the clone, a sparse copy that stays sparse, an overlay that reads through its
 * base, a flattened copy that stands alone, and a cancel that leaves no partial file.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import { DEFINITION_VERSION, type DiskSpec, type VmDefinition, PLAIN_GUEST } from '../common/vm-types.js';
import { resolveAppPaths, type AppPaths } from '../paths/app-paths.js';
import {
  assertCloneFits,
  cloneDefinition,
  copyImageFile,
  copyImageFileLoop,
  makeCloneFiles,
  planClone,
  ProgressMeter,
  readDiskFacts,
  type SourceDiskFacts,
} from './clone.js';

const QEMU_IMG = '/usr/bin/qemu-img';
const SRC_ID = '11111111-2222-4333-8444-555555555555';
const NEW_ID = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';

let roots: string[] = [];
afterEach(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  roots = [];
});

/** The new VM's data folder, the default one (`<data>/vms/<id>`). */
const at = (paths: AppPaths) => ({ dataDir: path.join(paths.data, 'vms', NEW_ID), customDataDir: false });

function sandbox(): { root: string; paths: AppPaths } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'clone-'));
  roots.push(root);
  const env = { XDG_CONFIG_HOME: `${root}/c`, XDG_DATA_HOME: `${root}/d`, XDG_STATE_HOME: `${root}/s` };
  return { root, paths: resolveAppPaths({ env, platform: 'linux', home: root, uid: process.getuid!(), tmpdir: root }) };
}

function definition(disks: DiskSpec[], more: Partial<VmDefinition> = {}): VmDefinition {
  return {
    version: DEFINITION_VERSION,
    ...PLAIN_GUEST,
    id: SRC_ID,
    name: 'web',
    arch: 'x86_64',
    memoryMiB: 512,
    cpus: 1,
    accel: 'auto',
    firmware: 'bios',
    disks,
    cdroms: ['/isos/debian.iso'],
    boot: ['disk', 'cdrom'],
    network: { mode: 'user', forwards: [] },
    display: 'std',
    nvram: null,
    mdevs: [],
    createdAt: '2026-01-01T00:00:00.000Z',
    ...more,
  };
}

function qemuImg(...args: string[]): string {
  return execFileSync(QEMU_IMG, args, { encoding: 'utf8' });
}

/** Whether two images hold the same data (`qemu-img compare`: exit 0 same, 1 different). */
function identical(a: string, fa: string, b: string, fb: string): boolean {
  const r = spawnSync(QEMU_IMG, ['compare', '-f', fa, '-F', fb, a, b], { encoding: 'utf8' });
  if (r.status !== 0 && r.status !== 1) throw new Error(`qemu-img compare failed: ${r.stderr}`);
  return r.status === 0;
}

/** `qemu-img info` of one image (not its chain). */
function info(file: string): { format: string; 'backing-filename'?: string; 'backing-filename-format'?: string } {
  return JSON.parse(qemuImg('info', '--output=json', file)) as never;
}

/** Writes `text` at `offset` of a raw file (making it if needed, keeping the rest). */
function poke(file: string, offset: number, text: string): void {
  const fd = fs.openSync(file, fs.existsSync(file) ? 'r+' : 'w');
  fs.writeSync(fd, text, offset);
  fs.closeSync(fd);
}

const facts = (entries: [string, Partial<SourceDiskFacts>][]) =>
  new Map(entries.map(([p, f]) => [p, { size: 0, need: 0, hasBacking: false, ...f }]));

describe('planClone and cloneDefinition', () => {
  it('copies a full clone’s plain images, flattens its overlays, and puts every disk in the clone’s folder under its own target', () => {
    const { paths } = sandbox();
    const src = definition([
      {
        path: '/vms/a/disk0.qcow2',
        target: 'vda',
        format: 'qcow2',
        owned: true,
        readOnly: false,
        linkedClones: [NEW_ID],
      },
      { path: '/elsewhere/data.img', target: 'vdc', format: 'raw', owned: false, readOnly: true },
      {
        path: '/vms/a/disk1.qcow2',
        target: 'vdd',
        format: 'qcow2',
        owned: true,
        readOnly: false,
        backing: '/b/x.qcow2',
      },
    ]);
    const plan = planClone(src, {
      id: NEW_ID,
      name: 'web (clone)',
      linked: false,
      ...at(paths),
      facts: facts([
        ['/vms/a/disk0.qcow2', { size: 100, need: 60 }],
        ['/elsewhere/data.img', { size: 1000, need: 10 }],
        ['/vms/a/disk1.qcow2', { size: 5000, need: 700, hasBacking: true }],
      ]),
    });
    const dir = path.join(paths.data, 'vms', NEW_ID);
    expect(plan.disks.map((s) => [s.how, s.dest, s.format, s.bytes])).toEqual([
      ['copy', `${dir}/disk0.qcow2`, 'qcow2', 100],
      ['copy', `${dir}/disk2.img`, 'raw', 1000],
      ['flatten', `${dir}/disk3.qcow2`, 'qcow2', 5000],
    ]);
    expect(plan.needBytes).toBe(770);

    const { def, dropped } = cloneDefinition(src, plan, new Date('2026-02-02T00:00:00.000Z'));
    expect(def).toEqual({
      ...src,
      id: NEW_ID,
      name: 'web (clone)',
      createdAt: '2026-02-02T00:00:00.000Z',
      disks: [
        // The copy is no linked clone's base; a flattened overlay reads through nothing.
        { path: `${dir}/disk0.qcow2`, target: 'vda', format: 'qcow2', owned: true, readOnly: false },
        { path: `${dir}/disk2.img`, target: 'vdc', format: 'raw', owned: true, readOnly: true },
        { path: `${dir}/disk3.qcow2`, target: 'vdd', format: 'qcow2', owned: true, readOnly: false },
      ],
    });
    expect(dropped).toEqual([]);
  });

  it('makes a linked clone of overlays reading through the source’s disks, and takes no port forward or vGPU along', () => {
    const { paths } = sandbox();
    const forward = { proto: 'tcp' as const, hostAddr: '127.0.0.1', hostPort: 2222, guestPort: 22 };
    const mdev = { uuid: '0d2c4e6f-8a1b-4c3d-9e5f-a7b9c1d3e5f7', parent: 'mtty', type: 'mtty-1', display: false };
    const src = definition(
      [
        { path: '/vms/a/disk0.img', target: 'vda', format: 'raw', owned: true, readOnly: false },
        { path: '/vms/a/disk1.qcow2', target: 'vdb', format: 'qcow2', owned: true, readOnly: false },
      ],
      { network: { mode: 'user', forwards: [forward] }, mdevs: [mdev] },
    );
    const plan = planClone(src, {
      id: NEW_ID,
      name: 'linked',
      linked: true,
      ...at(paths),
      facts: facts([
        ['/vms/a/disk0.img', { size: 2 ** 30 }],
        ['/vms/a/disk1.qcow2', { size: 2 ** 30 }],
      ]),
    });
    const dir = path.join(paths.data, 'vms', NEW_ID);
    expect(plan.disks.map((s) => [s.how, s.dest, s.bytes])).toEqual([
      ['overlay', `${dir}/disk0.qcow2`, 0],
      ['overlay', `${dir}/disk1.qcow2`, 0],
    ]);
    const { def, dropped } = cloneDefinition(src, plan);
    expect(def.disks).toEqual([
      {
        path: `${dir}/disk0.qcow2`,
        target: 'vda',
        format: 'qcow2',
        owned: true,
        readOnly: false,
        backing: '/vms/a/disk0.img',
      },
      {
        path: `${dir}/disk1.qcow2`,
        target: 'vdb',
        format: 'qcow2',
        owned: true,
        readOnly: false,
        backing: '/vms/a/disk1.qcow2',
      },
    ]);
    expect(def.network.forwards).toEqual([]);
    expect(def.mdevs).toEqual([]);
    expect(dropped).toEqual([
      'its port forward was not copied (a host port serves one VM): add new ones to the clone',
      'its mediated device was not copied (a vGPU serves one VM): assign one to the clone',
    ]);
  });

  it('copies the UEFI variables into the clone’s folder', () => {
    const { root, paths } = sandbox();
    const vars = path.join(root, 'efivars.fd');
    fs.writeFileSync(vars, Buffer.alloc(4096, 7));
    const src = definition([], { firmware: 'uefi', nvram: vars });
    const plan = planClone(src, { id: NEW_ID, name: 'u', linked: false, ...at(paths), facts: new Map() });
    expect(plan.nvram).toEqual({ from: vars, to: path.join(paths.data, 'vms', NEW_ID, 'efivars.fd'), bytes: 4096 });
    expect(cloneDefinition(src, plan).def.nvram).toBe(plan.nvram!.to);
  });

  it('does not start a clone with vmdesk because its source does', () => {
    const { paths } = sandbox();
    const src = definition([], { autostart: true });
    const plan = planClone(src, { id: NEW_ID, name: 'c', linked: false, ...at(paths), facts: new Map() });
    expect('autostart' in cloneDefinition(src, plan).def).toBe(false);
  });

  it('keeps a Secure Boot VM’s store as its Secure Boot store, and gives a TPM VM’s clone a new TPM, saying so', () => {
    const { root, paths } = sandbox();
    const vars = path.join(root, 'efivars-secure.fd');
    fs.writeFileSync(vars, Buffer.alloc(4096, 7));
    const src = definition([], { firmware: 'uefi', secureBoot: true, tpm: true, nvram: vars });
    const plan = planClone(src, { id: NEW_ID, name: 'w', linked: false, ...at(paths), facts: new Map() });
    expect(plan.nvram?.to).toBe(path.join(paths.data, 'vms', NEW_ID, 'efivars-secure.fd'));
    const { def, dropped } = cloneDefinition(src, plan);
    expect(def).toMatchObject({ secureBoot: true, tpm: true });
    expect(dropped).toEqual([
      "its TPM's memory was not copied (it holds the keys of that one machine): the clone gets a new, empty TPM, so BitLocker and Windows Hello must be set up again in it",
    ]);
  });

  it('refuses a full clone that does not fit, saying how much it needs and offering a linked one', () => {
    const { paths } = sandbox();
    const src = definition([{ path: '/v/d.img', target: 'vda', format: 'raw', owned: true, readOnly: false }]);
    const plan = planClone(src, {
      id: NEW_ID,
      name: 'x',
      linked: false,
      ...at(paths),
      facts: facts([['/v/d.img', { need: 3 * 2 ** 30 }]]),
    });
    const err = (() => {
      try {
        assertCloneFits(plan, 'web', 2 ** 30, '/home/u/.local/share');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(VmdeskError);
    expect((err as VmdeskError).code).toBe('insufficient-resources');
    expect((err as VmdeskError).message).toBe(
      'A full clone of "web" needs 3 GiB and /home/u/.local/share has 1 GiB free. Free some space, or make a linked clone (it needs almost none).',
    );
    expect(() => assertCloneFits(plan, 'web', 3 * 2 ** 30, '/x')).not.toThrow();
  });
});

describe('the clone’s files (real qemu-img)', () => {
  it.each([
    ['cp (Linux)', copyImageFile],
    ['the read/write loop (other systems)', copyImageFileLoop],
  ])('copies a sparse raw image byte for byte and keeps its holes as holes: %s', async (_how, copy) => {
    const { root } = sandbox();
    const from = path.join(root, 'big.img');
    fs.writeFileSync(from, '');
    fs.truncateSync(from, 64 * 2 ** 20);
    poke(from, 0, 'boot sector');
    poke(from, 40 * 2 ** 20 + 17, 'in the middle');
    poke(from, 64 * 2 ** 20 - 4, 'end!');
    const to = path.join(root, 'copy.img');
    let counted = 0;
    await copy(from, to, { onBytes: (n) => (counted += n) });
    expect(fs.readFileSync(to).equals(fs.readFileSync(from))).toBe(true);
    expect(counted).toBe(64 * 2 ** 20);
    expect(fs.statSync(to).mode & 0o777).toBe(0o600);
    // Three MiB-sized runs were written, the other 61 MiB are holes.
    expect(fs.statSync(to).blocks * 512).toBeLessThanOrEqual(4 * 2 ** 20);
  });

  it('stops a copy when cancelled and removes the partial file', async () => {
    const { root } = sandbox();
    const from = path.join(root, 'big.img');
    fs.writeFileSync(from, Buffer.alloc(32 * 2 ** 20, 1));
    const to = path.join(root, 'copy.img');
    const abort = new AbortController();
    const reason = new VmdeskError('cancelled', 'Cancelled.');
    const err = await copyImageFile(from, to, {
      signal: abort.signal,
      onBytes: () => abort.abort(reason),
    }).catch((e: unknown) => e);
    expect(err).toBe(reason);
    expect(fs.existsSync(to)).toBe(false);
  });

  it('never overwrites a file that is already there', async () => {
    const { root } = sandbox();
    const from = path.join(root, 'a.img');
    const to = path.join(root, 'b.img');
    fs.writeFileSync(from, 'new');
    fs.writeFileSync(to, 'precious');
    await expect(copyImageFile(from, to)).rejects.toThrow(/EEXIST/);
    expect(fs.readFileSync(to, 'utf8')).toBe('precious');
  });

  it('makes a linked clone’s disks as qcow2 overlays that record their base and its format', async () => {
    const { root, paths } = sandbox();
    const base = path.join(root, 'base.img');
    fs.writeFileSync(base, '');
    fs.truncateSync(base, 2 ** 30);
    poke(base, 512, 'base data');
    const before = fs.statSync(base).mtimeMs;
    const src = definition([{ path: base, target: 'vda', format: 'raw', owned: false, readOnly: false }]);
    const plan = planClone(src, {
      id: NEW_ID,
      name: 'l',
      linked: true,
      ...at(paths),
      facts: await readDiskFacts(QEMU_IMG, src.disks, true),
    });
    fs.mkdirSync(path.join(paths.data, 'vms', NEW_ID), { recursive: true });
    await makeCloneFiles(plan, { qemuImg: QEMU_IMG });
    const overlay = plan.disks[0]!.dest;
    expect(info(overlay)).toMatchObject({
      format: 'qcow2',
      'backing-filename': base,
      'backing-filename-format': 'raw',
    });
    expect(fs.statSync(overlay).mode & 0o777).toBe(0o600);
    // The guest reads the base's data through the overlay; the base is not touched.
    expect(identical(overlay, 'qcow2', base, 'raw')).toBe(true);
    expect(fs.statSync(base).mtimeMs).toBe(before);
  });

  it('flattens an overlay in a full clone: the copy reads through nothing and holds the same data, with progress to the end', async () => {
    const { root, paths } = sandbox();
    const raw = path.join(root, 'base.img');
    fs.writeFileSync(raw, '');
    fs.truncateSync(raw, 64 * 2 ** 20);
    poke(raw, 4096, 'in the base');
    const base = path.join(root, 'base.qcow2');
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', raw, base);
    const top = path.join(root, 'top.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top);
    // The guest wrote into the overlay: data only the top has.
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 8M 1M', top]);
    const src = definition([
      { path: top, target: 'vda', format: 'qcow2', owned: true, readOnly: false, backing: base },
    ]);
    const f = await readDiskFacts(QEMU_IMG, src.disks, false);
    expect(f.get(top)).toMatchObject({ hasBacking: true, size: 64 * 2 ** 20 });
    const plan = planClone(src, { id: NEW_ID, name: 'f', linked: false, ...at(paths), facts: f });
    expect(plan.disks[0]!.how).toBe('flatten');
    fs.mkdirSync(path.join(paths.data, 'vms', NEW_ID), { recursive: true });
    const seen: [number, number][] = [];
    const meter = new ProgressMeter(64 * 2 ** 20, (done, total) => seen.push([done, total]), 0);
    await makeCloneFiles(plan, { qemuImg: QEMU_IMG, meter });
    meter.finish('done');
    const copy = plan.disks[0]!.dest;
    expect(info(copy)['backing-filename']).toBeUndefined();
    expect(identical(copy, 'qcow2', top, 'qcow2')).toBe(true);
    expect(identical(copy, 'qcow2', raw, 'raw')).toBe(false);
    expect(seen.at(-1)).toEqual([64 * 2 ** 20, 64 * 2 ** 20]);
    expect(seen.map(([d]) => d)).toEqual([...seen.map(([d]) => d)].sort((a, b) => a - b));
  });

  it('says which disk is missing instead of cloning it', async () => {
    const src = definition([
      { path: '/nonexistent/disk.img', target: 'vdb', format: 'raw', owned: false, readOnly: false },
    ]);
    await expect(readDiskFacts(QEMU_IMG, src.disks, false)).rejects.toThrow(
      'Disk vdb (/nonexistent/disk.img) is missing, so it cannot be cloned. Put it back, or remove the disk from the VM first.',
    );
  });
});

describe('ProgressMeter', () => {
  it('reports at each step’s start, at most once per interval in between, and always at the end', () => {
    let now = 0;
    const seen: string[] = [];
    const m = new ProgressMeter(
      100,
      (d, t, what) => seen.push(`${what} ${d}/${t}`),
      1000,
      () => now,
    );
    m.begin('Copying vda');
    now = 500;
    m.add(10, 'Copying vda');
    now = 1000;
    m.add(10, 'Copying vda');
    now = 1200;
    m.add(50, 'Copying vda');
    m.finish('Copied');
    expect(seen).toEqual(['Copying vda 0/100', 'Copying vda 20/100', 'Copied 100/100']);
  });
});
