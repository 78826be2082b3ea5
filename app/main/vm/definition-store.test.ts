import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_NAME_CHARS } from '../common/names.js';
import {
  diskTarget,
  MAX_DISKS,
  MAX_FORWARDS,
  MAX_MDEVS,
  MAX_PATH_CHARS,
  type VmDefinition,
  PLAIN_GUEST,
} from '../common/vm-types.js';
import { DefinitionStore, MAX_DEFINITION_BYTES } from './definition-store.js';
import type { DefinitionEntry } from './definition-store.js';

const GOOD_ID = '11111111-2222-4333-8444-555555555555';
const OTHER_ID = '99999999-8888-4777-8666-555555555555';

function definition(over: Partial<VmDefinition> = {}): VmDefinition {
  return {
    version: 3,
    ...PLAIN_GUEST,
    id: GOOD_ID,
    name: 'web',
    arch: 'x86_64',
    memoryMiB: 1024,
    cpus: 2,
    accel: 'auto',
    firmware: 'bios',
    disks: [{ target: 'vda', path: '/vms/web.qcow2', format: 'qcow2', owned: true, readOnly: false }],
    cdroms: [],
    boot: ['disk'],
    network: { mode: 'user', forwards: [{ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222, guestPort: 22 }] },
    display: 'std',
    nvram: null,
    mdevs: [],
    createdAt: '2025-01-02T03:04:05.000Z',
    ...over,
  };
}

let dir: string;
let store: DefinitionStore;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-defs-'));
  store = new DefinitionStore(path.join(dir, 'vms'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes a file into the store's directory as someone else (or a newer vmdesk) would. */
function plant(name: string, content: string): string {
  fs.mkdirSync(store.dir, { recursive: true });
  const file = path.join(store.dir, name);
  fs.writeFileSync(file, content);
  return file;
}

function brokenEntry(entries: DefinitionEntry[], id: string): Extract<DefinitionEntry, { ok: false }> {
  const e = entries.find((x) => x.id === id);
  if (!e) throw new Error(`no entry for ${id}`);
  if (e.ok) throw new Error(`${id} loaded, but it should be broken`);
  return e;
}

describe('DefinitionStore', () => {
  it('returns no entries when the directory does not exist yet', () => {
    expect(store.loadAll()).toEqual([]);
  });

  it('round-trips a saved definition through loadAll', () => {
    const def = definition();
    store.save(def);
    expect(store.loadAll()).toEqual([
      { ok: true, id: GOOD_ID, file: store.fileFor(GOOD_ID), definition: def, stamp: expect.any(String) },
    ]);
  });

  it('writes definitions readable by the user only (0600)', () => {
    store.save(definition());
    expect(fs.statSync(store.fileFor(GOOD_ID)).mode & 0o777).toBe(0o600);
  });

  it('replaces a definition on a second save', () => {
    store.save(definition());
    store.save(definition({ memoryMiB: 2048 }));
    const [entry] = store.loadAll();
    expect(entry).toMatchObject({ ok: true, definition: { memoryMiB: 2048 } });
  });

  it('refuses to save an invalid definition and writes nothing', () => {
    expect(() => store.save(definition({ cpus: 0 }))).toThrow(expect.objectContaining({ code: 'internal' }));
    expect(fs.existsSync(store.fileFor(GOOD_ID))).toBe(false);
  });

  it('returns entries sorted by file name', () => {
    store.save(definition({ id: OTHER_ID, name: 'b' }));
    store.save(definition({ id: GOOD_ID, name: 'a' }));
    expect(store.loadAll().map((e) => e.id)).toEqual([GOOD_ID, OTHER_ID]);
  });

  it('removes a definition, and removing a missing one is not an error', () => {
    store.save(definition());
    store.remove(GOOD_ID);
    expect(store.loadAll()).toEqual([]);
    expect(() => store.remove(GOOD_ID)).not.toThrow();
  });

  describe('a file it cannot use', () => {
    const { version: _v, ...withoutVersion } = definition({ id: OTHER_ID });
    const { memoryMiB: _m, ...withoutMemory } = definition({ id: OTHER_ID });
    const cases: { what: string; content: string; reason: RegExp }[] = [
      { what: 'garbage', content: 'this is {not json', reason: /not valid JSON/ },
      { what: 'a missing field', content: JSON.stringify(withoutMemory), reason: /memoryMiB/ },
      {
        what: 'a future format version',
        content: JSON.stringify({ ...definition({ id: OTHER_ID }), version: 4 }),
        reason: /newer vmdesk.*version 4/,
      },
      { what: 'no version', content: JSON.stringify(withoutVersion), reason: /"version"/ },
      {
        what: 'a version that is not a positive integer',
        content: JSON.stringify({ ...definition({ id: OTHER_ID }), version: 0.5 }),
        reason: /"version"/,
      },
      { what: 'a JSON array', content: JSON.stringify([definition({ id: OTHER_ID })]), reason: /JSON object/ },
      { what: 'JSON null', content: 'null', reason: /JSON object/ },
      {
        what: 'an id that does not match the file name',
        content: JSON.stringify(definition({ id: GOOD_ID, name: 'copy' })),
        reason: new RegExp(`does not match.*${GOOD_ID}`),
      },
    ];

    for (const c of cases) {
      it(`reports a file with ${c.what} as broken, naming the problem, and still loads the good VM`, () => {
        store.save(definition());
        const file = plant(`${OTHER_ID}.json`, c.content);
        const entries = store.loadAll();
        expect(entries).toHaveLength(2);
        expect(entries.find((e) => e.id === GOOD_ID)).toMatchObject({ ok: true, definition: { name: 'web' } });
        const broken = brokenEntry(entries, OTHER_ID);
        expect(broken.file).toBe(file);
        expect(broken.reason).toMatch(c.reason);
      });
    }

    it('reports a file whose name is not a uuid as broken', () => {
      plant('web.json', JSON.stringify(definition()));
      expect(brokenEntry(store.loadAll(), 'web').reason).toMatch(/does not match/);
    });

    it('reports a directory named like a definition as broken', () => {
      fs.mkdirSync(path.join(store.dir, `${OTHER_ID}.json`), { recursive: true });
      expect(brokenEntry(store.loadAll(), OTHER_ID).reason).toMatch(/not a regular file/);
    });

    it('reports a file too large to be a definition as broken without parsing it', () => {
      plant(`${OTHER_ID}.json`, ' '.repeat(1024 * 1024 + 1));
      expect(brokenEntry(store.loadAll(), OTHER_ID).reason).toMatch(/too large/);
    });

    it('leaves every broken file byte-for-byte untouched, with the same mtime', () => {
      const contents = ['{garbage', JSON.stringify({ ...definition({ id: OTHER_ID }), version: 3 }), '[]'];
      const ids = [OTHER_ID, 'aaaaaaaa-2222-4333-8444-555555555555', 'bbbbbbbb-2222-4333-8444-555555555555'];
      const old = new Date('2020-01-01T00:00:00Z');
      const files = ids.map((id, i) => {
        const f = plant(`${id}.json`, contents[i]!);
        fs.utimesSync(f, old, old);
        return f;
      });
      const before = files.map((f) => ({
        bytes: fs.readFileSync(f),
        mtimeMs: fs.statSync(f).mtimeMs,
        mode: fs.statSync(f).mode,
      }));

      const entries = store.loadAll();
      expect(entries.every((e) => !e.ok)).toBe(true);

      const after = files.map((f) => ({
        bytes: fs.readFileSync(f),
        mtimeMs: fs.statSync(f).mtimeMs,
        mode: fs.statSync(f).mode,
      }));
      expect(after).toEqual(before);
      expect(fs.readdirSync(store.dir).sort()).toEqual(files.map((f) => path.basename(f)).sort());
    });
  });

  it('reads a format-1 file as format 2: one CD-ROM becomes a drive list, boot an order, disks get targets', () => {
    const store = new DefinitionStore(dir);
    const { cdroms: _c, boot: _b, disks: _d, ...rest } = definition();
    const v1 = (cdrom: string | null, boot: string) => ({
      ...rest,
      version: 1,
      cdrom,
      boot,
      disks: [
        { path: '/vms/a.qcow2', format: 'qcow2', owned: true, readOnly: false },
        { path: '/vms/b.img', format: 'raw', owned: false, readOnly: false },
      ],
    });
    fs.writeFileSync(store.fileFor(GOOD_ID), JSON.stringify(v1('/isos/debian.iso', 'cdrom')));
    const entry = store.load(store.fileFor(GOOD_ID));
    expect(entry.ok && entry.definition).toMatchObject({
      version: 3,
      tpm: false,
      devices: { disk: 'virtio', nic: 'virtio' },
      cdroms: ['/isos/debian.iso'],
      boot: ['cdrom', 'disk'],
      disks: [
        { target: 'vda', path: '/vms/a.qcow2' },
        { target: 'vdb', path: '/vms/b.img' },
      ],
    });
    fs.writeFileSync(store.fileFor(GOOD_ID), JSON.stringify(v1(null, 'disk')));
    const plain = store.load(store.fileFor(GOOD_ID));
    expect(plain.ok && plain.definition).toMatchObject({ cdroms: [], boot: ['disk'] });
    // A bad value stays bad: the migration never makes a broken file good.
    fs.writeFileSync(store.fileFor(GOOD_ID), JSON.stringify(v1(null, 'floppy')));
    expect(store.load(store.fileFor(GOOD_ID))).toMatchObject({ ok: false, reason: expect.stringContaining('boot') });
  });

  it('ignores files that are not .json, and dot-files', () => {
    store.save(definition());
    plant('notes.txt', 'hello');
    plant(`${OTHER_ID}.json.bak`, JSON.stringify(definition({ id: OTHER_ID })));
    plant(`.${OTHER_ID}.json`, JSON.stringify(definition({ id: OTHER_ID })));
    plant(`.${GOOD_ID}.json.123.tmp`, '{half');
    expect(store.loadAll().map((e) => e.id)).toEqual([GOOD_ID]);
  });
});

// Was a bug: 9 500 forwards were accepted and saved as a 1.2 MB file that the loader, after a
// restart, called too large. Every limit of the schema at its maximum, with the characters JSON
// writes longest (a control character is 6 bytes as \u0001), must still load.
describe('the largest definition the schema accepts', () => {
  it('is saved and loads again, well under the loader limit', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-defs-'));
    try {
      const longPath = '/' + '\u0001'.repeat(MAX_PATH_CHARS - 1);
      const def: VmDefinition = {
        version: 3,
        ...PLAIN_GUEST,
        id: '11111111-2222-4333-8444-555555555555',
        name: '\u{1F427}'.repeat(MAX_NAME_CHARS),
        arch: 'x86_64',
        memoryMiB: 1024,
        cpus: 2,
        accel: 'auto',
        firmware: 'uefi',
        disks: Array.from({ length: MAX_DISKS }, (_, i) => ({
          path: longPath,
          target: diskTarget(i),
          format: 'qcow2',
          owned: false,
          readOnly: false,
        })),
        cdroms: [longPath],
        boot: ['disk'],
        network: {
          mode: 'user',
          forwards: Array.from({ length: MAX_FORWARDS }, (_, i) => ({
            proto: 'tcp' as const,
            hostAddr: '255.255.255.255',
            hostPort: 60000 + i,
            guestPort: 65535,
          })),
        },
        display: 'std',
        nvram: longPath,
        mdevs: Array.from({ length: MAX_MDEVS }, () => ({
          uuid: '11111111-2222-4333-8444-555555555555',
          type: 'x'.repeat(128),
          parent: 'y'.repeat(128),
          display: true,
        })),
        createdAt: '2026-12-03T00:00:00.000Z',
      };
      const store = new DefinitionStore(dir);
      store.save(def);
      const size = fs.statSync(store.fileFor(def.id)).size;
      expect(size).toBeLessThan(MAX_DEFINITION_BYTES / 2);
      expect(store.load(store.fileFor(def.id))).toMatchObject({ ok: true });
      // A file an older vmdesk wrote with two forwards on one host socket still loads (the start
      // refuses it in a sentence); one more forward than the limit is refused, so it is never written.
      const overlapping = [def.network.forwards[0]!, { ...def.network.forwards[0]!, hostAddr: '0.0.0.0' }];
      expect(store.save({ ...def, network: { ...def.network, forwards: overlapping } })).toBeDefined();
      expect(store.load(store.fileFor(def.id))).toMatchObject({ ok: true });
      expect(() =>
        store.save({
          ...def,
          network: { ...def.network, forwards: [...def.network.forwards, def.network.forwards[0]!] },
        }),
      ).toThrow(/Refusing to write/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
