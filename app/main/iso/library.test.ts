import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import type { VmDefinition, VmSummary } from '../common/vm-types.js';
import { buildFixtures, type FixtureName } from './fixtures/build-fixtures.js';
import { libraryCounters, listIsoLibrary, removeFromIsoLibrary } from './library.js';
import { PLAIN_GUEST } from '../common/vm-types.js';

let fx: Record<FixtureName, string>;
beforeAll(() => {
  fx = buildFixtures();
}, 120_000);

let root: string;
let lib: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-isolib-'));
  lib = path.join(root, 'isos');
  fs.mkdirSync(lib, { mode: 0o700 });
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** A stopped VM as VmManager.list() reports it, with `cdrom` as its CD-ROM. */
function vm(name: string, cdrom: string | null): VmSummary {
  const id = `${name.padEnd(8, '0')}-0000-4000-8000-000000000000`;
  const definition: VmDefinition = {
    version: 3,
    ...PLAIN_GUEST,
    id,
    name,
    arch: 'x86_64',
    memoryMiB: 256,
    cpus: 1,
    accel: 'auto',
    firmware: 'bios',
    disks: [],
    cdroms: [cdrom],
    boot: cdrom ? ['cdrom', 'disk'] : ['disk'],
    network: { mode: 'user', forwards: [] },
    display: 'std',
    nvram: null,
    mdevs: [],
    createdAt: '2025-01-01T00:00:00.000Z',
  };
  return { id, name, state: 'stopped', definition, file: path.join(root, `${id}.json`) };
}

/** The VmdeskError a promise rejects with (fails the test if it resolves). */
async function refusal(p: Promise<unknown>): Promise<VmdeskError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VmdeskError);
  return err as VmdeskError;
}

const put = (name: string, from: string = fx.debian12): string => {
  const file = path.join(lib, name);
  fs.copyFileSync(from, file);
  return file;
};

describe('listing the ISO library', () => {
  it('lists the regular files only, by name: no upload temp files, folders, symlinks or FIFOs', async () => {
    const debian = put('debian.iso');
    fs.writeFileSync(path.join(lib, 'notes.iso'), 'not a disc image');
    put('Alpha.iso', fx.ubuntu);
    // An upload in progress (web-upload.ts's temp name) and other hidden files.
    fs.writeFileSync(path.join(lib, '.big.iso.0123456789abcdef.part'), 'half an upload');
    fs.writeFileSync(path.join(lib, '.hidden.iso'), 'x');
    fs.mkdirSync(path.join(lib, 'folder.iso'));
    fs.symlinkSync(debian, path.join(lib, 'link.iso'));
    fs.writeFileSync(path.join(root, 'outside.iso'), 'elsewhere');
    fs.symlinkSync(path.join(root, 'outside.iso'), path.join(lib, 'outside-link.iso'));
    fs.symlinkSync('/nonexistent', path.join(lib, 'dangling.iso'));
    execFileSync('mkfifo', [path.join(lib, 'pipe.iso')]);
    const mtime = new Date('2024-03-04T05:06:07.000Z');
    fs.utimesSync(debian, mtime, mtime);

    const list = await listIsoLibrary(lib, []);
    expect(list.map((e) => e.name)).toEqual(['Alpha.iso', 'debian.iso', 'notes.iso']);
    const d = list.find((e) => e.name === 'debian.iso')!;
    expect(d).toEqual({
      path: debian,
      name: 'debian.iso',
      sizeBytes: fs.statSync(fx.debian12).size,
      storedAt: '2024-03-04T05:06:07.000Z',
      os: expect.stringMatching(/^Debian/) as unknown as string,
      usedBy: [],
    });
    expect(list.find((e) => e.name === 'Alpha.iso')!.os).toMatch(/^Ubuntu/);
    // Not a disc image: listed (so it can be removed), with no OS.
    expect(list.find((e) => e.name === 'notes.iso')).not.toHaveProperty('os');
  });

  it('is empty when the library folder does not exist yet', async () => {
    expect(await listIsoLibrary(path.join(root, 'never-made'), [])).toEqual([]);
  });

  it('says which VMs use each image: by its path, or by another path to the same file', async () => {
    const debian = put('debian.iso');
    const ubuntu = put('ubuntu.iso', fx.ubuntu);
    const elsewhere = path.join(root, 'my-link.iso');
    fs.symlinkSync(ubuntu, elsewhere);
    const vms = [
      vm('alpha', debian),
      vm('beta', elsewhere),
      vm('gamma', debian),
      vm('delta', fx.debian12), // the same content, another file
      vm('eps', null),
      { id: 'broken00-0000-4000-8000-000000000000', name: 'broken', state: 'broken', file: '/x.json' } as VmSummary,
    ];
    const list = await listIsoLibrary(lib, vms);
    expect(list.find((e) => e.name === 'debian.iso')!.usedBy).toEqual([
      { id: vms[0]!.id, name: 'alpha' },
      { id: vms[2]!.id, name: 'gamma' },
    ]);
    expect(list.find((e) => e.name === 'ubuntu.iso')!.usedBy).toEqual([{ id: vms[1]!.id, name: 'beta' }]);
  });

  it('reads each image once while it is unchanged, and again once it changes', async () => {
    const a = put('a.iso');
    put('b.iso', fx.ubuntu);
    const before = libraryCounters.inspections;
    await listIsoLibrary(lib, []);
    expect(libraryCounters.inspections - before).toBe(2);
    await listIsoLibrary(lib, []);
    await listIsoLibrary(lib, []);
    expect(libraryCounters.inspections - before).toBe(2);
    // Same path, other content (a re-upload under the same name): read again, recognised anew.
    fs.copyFileSync(fx.fedora, a);
    const list = await listIsoLibrary(lib, []);
    expect(libraryCounters.inspections - before).toBe(3);
    expect(list.find((e) => e.name === 'a.iso')!.os).toMatch(/^Fedora/);
  });
});

describe('removing an image of the ISO library', () => {
  it('removes an image no VM uses', async () => {
    const debian = put('debian.iso');
    const other = put('other.iso');
    expect(await removeFromIsoLibrary(lib, debian, [vm('alpha', other)])).toEqual({ path: debian });
    expect(fs.existsSync(debian)).toBe(false);
    expect((await listIsoLibrary(lib, [])).map((e) => e.name)).toEqual(['other.iso']);
  });

  it('refuses while a VM uses it, and says how to eject it', async () => {
    const debian = put('debian.iso');
    const err = await refusal(removeFromIsoLibrary(lib, debian, [vm('web server', debian), vm('unrelated', null)]));
    expect(err.code).toBe('disk-in-use');
    expect(err.message).toBe(
      `debian.iso is used by the VM "web server": eject it first (vmdesk eject 'web server'), then remove it.`,
    );
    expect(fs.existsSync(debian)).toBe(true);
  });

  it('refuses while a VM uses it through another path (a symlink elsewhere), naming every VM', async () => {
    const debian = put('debian.iso');
    const link = path.join(root, 'via-link.iso');
    fs.symlinkSync(debian, link);
    const err = await refusal(removeFromIsoLibrary(lib, debian, [vm('a', link), vm('b', debian), vm('c', debian)]));
    expect(err.message).toBe(
      'debian.iso is used by the VMs "a", "b" and "c": eject it first (vmdesk eject a; vmdesk eject b; vmdesk eject c), then remove it.',
    );
    expect(fs.existsSync(debian)).toBe(true);
  });

  it('refuses a file outside the library, also one reached with ".." or through a symlinked folder', async () => {
    const outside = path.join(root, 'outside.iso');
    fs.copyFileSync(fx.debian12, outside);
    const other = fs.mkdtempSync(path.join(root, 'other-'));
    fs.copyFileSync(fx.debian12, path.join(other, 'x.iso'));
    fs.symlinkSync(other, path.join(lib, 'sub'));
    for (const p of [outside, `${lib}/../outside.iso`, path.join(lib, 'sub', 'x.iso')]) {
      const err = await refusal(removeFromIsoLibrary(lib, p, []));
      expect(err.code).toBe('invalid-argument');
      expect(err.message).toMatch(/ is not in the ISO library \(.*\): vmdesk removes only the images it keeps there/);
    }
    expect(fs.existsSync(outside)).toBe(true);
    expect(fs.existsSync(path.join(other, 'x.iso'))).toBe(true);
  });

  it('refuses a symlink in the library, leaving both the link and what it points to', async () => {
    const target = path.join(root, 'precious.iso');
    fs.copyFileSync(fx.debian12, target);
    const link = path.join(lib, 'link.iso');
    fs.symlinkSync(target, link);
    const err = await refusal(removeFromIsoLibrary(lib, link, []));
    expect(err.code).toBe('invalid-argument');
    expect(err.message).toMatch(/link\.iso is a symbolic link, not an image vmdesk stored/);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.existsSync(target)).toBe(true);
  });

  it('refuses an upload temp file, a folder and a relative path', async () => {
    const temp = path.join(lib, '.big.iso.0123456789abcdef.part');
    fs.writeFileSync(temp, 'half');
    expect((await refusal(removeFromIsoLibrary(lib, temp, []))).message).toMatch(/uploads in progress/);
    expect(fs.existsSync(temp)).toBe(true);
    fs.mkdirSync(path.join(lib, 'folder.iso'));
    expect((await refusal(removeFromIsoLibrary(lib, path.join(lib, 'folder.iso'), []))).message).toMatch(
      /is not a regular file/,
    );
    expect((await refusal(removeFromIsoLibrary(lib, 'debian.iso', []))).message).toMatch(/is not an absolute path/);
  });

  it('says not-found for an image that is not there', async () => {
    const err = await refusal(removeFromIsoLibrary(lib, path.join(lib, 'gone.iso'), []));
    expect(err.code).toBe('not-found');
    expect(err.message).toBe(
      `There is no image "gone.iso" in the ISO library (${lib}). See \`vmdesk iso list\` for what is there.`,
    );
  });

  it('finds the library through a symlinked data folder', async () => {
    // XDG_DATA_HOME may itself be a symlink (a home on another disk): its real folder is compared.
    const alias = path.join(root, 'alias');
    fs.symlinkSync(lib, alias);
    const debian = put('debian.iso');
    expect(await removeFromIsoLibrary(alias, path.join(alias, 'debian.iso'), [])).toEqual({
      path: path.join(alias, 'debian.iso'),
    });
    expect(fs.existsSync(debian)).toBe(false);
  });
});
