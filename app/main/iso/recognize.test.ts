import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { vmNameProblem } from '../common/names.js';
import { inspectIso } from './inspect.js';
import { recognizeOs } from './recognize.js';
import { suggestVmName } from './vm-name.js';
import { readOsinfoDirSync, type OsinfoDb } from './osinfo-db.js';
import { DEFAULT_OSINFO_DIR, defaultOsinfoDb, osinfoTable, resetOsinfoCache } from './osinfo-source.js';
import type { IsoInfo, OsMatch } from '../common/iso-types.js';
import { buildFixtures, type FixtureName } from './fixtures/build-fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const guestIso = path.resolve(here, '../../../.cache/guest/guest.iso');
const hasOsinfo = fs.existsSync(path.join(DEFAULT_OSINFO_DIR, 'os'));
const infos = {} as Record<FixtureName | 'guest', IsoInfo>;

beforeAll(async () => {
  const fx = buildFixtures();
  for (const [name, file] of Object.entries(fx)) infos[name as FixtureName] = await inspectIso(file);
  if (fs.existsSync(guestIso)) infos.guest = await inspectIso(guestIso);
}, 120_000);

interface Expected {
  id: string;
  name: string;
  suggested: string;
  confidence: OsMatch['confidence'];
  arch: OsMatch['arch'];
  firmware: OsMatch['firmware'];
  family: OsMatch['family'];
  virtio: boolean;
  tpm?: boolean;
  recommended: OsMatch['recommended'];
}

const L = { family: 'linux', virtio: true } as const;
const EXPECTED: Record<FixtureName | 'guest', Expected> = {
  ubuntu: {
    ...L,
    id: 'http://ubuntu.com/ubuntu/24.04',
    name: 'Ubuntu 24.04 LTS',
    suggested: 'Ubuntu 24.04',
    confidence: 'newer-release',
    arch: 'x86_64',
    firmware: 'either',
    recommended: { memoryMiB: 4096, diskGiB: 25, cpus: 2 },
  },
  fedora: {
    ...L,
    id: 'http://fedoraproject.org/fedora/unknown',
    name: 'Fedora 41',
    suggested: 'Fedora 41',
    confidence: 'exact',
    arch: 'x86_64',
    firmware: 'either',
    recommended: { memoryMiB: 2048, diskGiB: 20, cpus: 2 },
  },
  debian12: {
    ...L,
    id: 'http://debian.org/debian/12',
    name: 'Debian 12',
    suggested: 'Debian 12',
    confidence: 'newer-release',
    arch: 'x86_64',
    firmware: 'either',
    recommended: { memoryMiB: 1024, diskGiB: 20, cpus: 2 },
  },
  debian11: {
    ...L,
    id: 'http://debian.org/debian/11',
    name: 'Debian 11',
    suggested: 'Debian 11',
    confidence: 'exact',
    arch: 'x86_64',
    firmware: 'either',
    recommended: { memoryMiB: 1024, diskGiB: 20, cpus: 2 },
  },
  opensuse: {
    ...L,
    id: 'http://opensuse.org/opensuse/tumbleweed',
    name: 'openSUSE Tumbleweed',
    suggested: 'openSUSE Tumbleweed',
    confidence: 'exact',
    arch: 'x86_64',
    firmware: 'either',
    recommended: { memoryMiB: 2048, diskGiB: 20, cpus: 2 },
  },
  windows11: {
    id: 'http://microsoft.com/win/11',
    name: 'Microsoft Windows 11',
    suggested: 'Windows 11',
    confidence: 'exact',
    arch: 'x86_64',
    firmware: 'uefi',
    family: 'windows',
    virtio: false,
    tpm: true,
    recommended: { memoryMiB: 4096, diskGiB: 64, cpus: 2 },
  },
  windows10udf: {
    id: 'http://microsoft.com/win/10',
    name: 'Microsoft Windows 10',
    suggested: 'Windows 10',
    confidence: 'exact',
    arch: 'x86_64',
    firmware: 'either',
    family: 'windows',
    virtio: false,
    recommended: { memoryMiB: 2048, diskGiB: 20, cpus: 2 },
  },
  ubuntuArm: {
    ...L,
    id: 'http://ubuntu.com/ubuntu/24.04',
    name: 'Ubuntu 24.04 LTS',
    suggested: 'Ubuntu 24.04',
    confidence: 'newer-release',
    arch: 'aarch64',
    firmware: 'uefi',
    recommended: { memoryMiB: 4096, diskGiB: 25, cpus: 2 },
  },
  ubuntu22Arm: {
    ...L,
    id: 'http://ubuntu.com/ubuntu/22.04',
    name: 'Ubuntu 22.04 LTS',
    suggested: 'Ubuntu 22.04',
    confidence: 'exact',
    arch: 'aarch64',
    firmware: 'uefi',
    recommended: { memoryMiB: 4096, diskGiB: 25, cpus: 2 },
  },
  data: {
    id: '',
    name: 'BACKUP 2024',
    suggested: 'BACKUP 2024',
    confidence: 'none',
    arch: null,
    firmware: 'either',
    family: 'other',
    virtio: false,
    recommended: { memoryMiB: 2048, diskGiB: 20, cpus: 2 },
  },
  // The virtio driver disc is data, not an OS: generic, and found by its volume id elsewhere.
  virtioWin: {
    id: '',
    name: 'virtio-win-0.1.262',
    suggested: 'virtio-win-0.1.262',
    confidence: 'none',
    arch: null,
    firmware: 'either',
    family: 'other',
    virtio: false,
    recommended: { memoryMiB: 2048, diskGiB: 20, cpus: 2 },
  },
  guest: {
    id: '',
    name: 'VMDESK TESTGUEST',
    suggested: 'VMDESK TESTGUEST',
    confidence: 'none',
    arch: 'x86_64',
    // It boots with BIOS and with UEFI (e2e/guest/build-guest.sh).
    firmware: 'either',
    family: 'other',
    virtio: false,
    recommended: { memoryMiB: 2048, diskGiB: 20, cpus: 2 },
  },
};

function check(name: FixtureName | 'guest', m: OsMatch, source: OsMatch['source']): void {
  const e = EXPECTED[name];
  expect(
    {
      id: m.id,
      name: m.name,
      confidence: m.confidence,
      arch: m.arch,
      firmware: m.firmware,
      family: m.family,
      virtio: m.virtio,
      tpm: m.tpm,
      recommended: m.recommended,
    },
    name,
  ).toEqual({
    id: e.id,
    name: e.name,
    confidence: e.confidence,
    arch: e.arch,
    firmware: e.firmware,
    family: e.family,
    virtio: e.virtio,
    tpm: e.tpm ?? false,
    recommended: e.recommended,
  });
  expect(m.source).toBe(e.confidence === 'none' ? 'generic' : source);
  expect(m.minimum.memoryMiB).toBeLessThanOrEqual(m.recommended.memoryMiB);
  const suggested = suggestVmName(m, infos[name]);
  expect(suggested).toBe(e.suggested);
  expect(vmNameProblem(suggested)).toBeUndefined();
}

const names = Object.keys(EXPECTED) as (FixtureName | 'guest')[];

describe('recognizeOs from the committed table alone', () => {
  it.each(names)('%s', (name) => {
    if (!infos[name]) return; // the guest ISO is built by the integration setup; absent here
    check(name, recognizeOs(infos[name], osinfoTable()), 'table');
  });
});

describe.skipIf(!hasOsinfo)('recognizeOs from the installed osinfo-db (apt-get install osinfo-db)', () => {
  let db: OsinfoDb;
  beforeAll(() => {
    db = readOsinfoDirSync(DEFAULT_OSINFO_DIR).db;
  });

  it.each(names)('%s', (name) => {
    if (!infos[name]) return;
    check(name, recognizeOs(infos[name], db), 'osinfo-db');
  });

  it('matches the committed table record for record when both come from the same osinfo-db release', () => {
    const table = osinfoTable();
    if (db.version !== table.version) return; // a newer/older osinfo-db here: nothing to compare
    expect(table.oses).toEqual(db.oses.filter((o) => o.media.length > 0));
  });
});

describe('choosing the OS data', () => {
  afterEach(() => {
    delete process.env.OSINFO_SYSTEM_DIR;
    resetOsinfoCache();
  });

  it('uses the committed table when no osinfo-db is installed', () => {
    process.env.OSINFO_SYSTEM_DIR = path.join(here, 'no-such-osinfo');
    expect(defaultOsinfoDb().source).toBe('table');
    expect(recognizeOs(infos.debian11).source).toBe('table');
  });

  it.skipIf(!hasOsinfo)('prefers an installed osinfo-db at least as new as the table, and caches it', () => {
    const db = defaultOsinfoDb();
    expect(db.source).toBe('osinfo-db');
    expect(defaultOsinfoDb()).toBe(db);
  });
});

describe('recognition details', () => {
  it('without a readable install image, Windows media are taken for the newer release, and say so', () => {
    const m = recognizeOs({ ...infos.windows11, windows: null }, osinfoTable());
    expect(m.id).toBe('http://microsoft.com/win/11');
    expect(m.notes.join(' ')).toMatch(/Windows 10 and 11 media share volume ids/);
  });

  it("Windows on ARM media: the install image's arch wins over osinfo's x86_64-only media entry", () => {
    const info: IsoInfo = {
      ...infos.windows11,
      bootable: { bios: false, uefi: true },
      efiArchs: ['aarch64'],
      windows: { ...infos.windows11.windows!, arch: 'aarch64' },
    };
    const m = recognizeOs(info, osinfoTable());
    expect(m).toMatchObject({ id: 'http://microsoft.com/win/11', arch: 'aarch64', firmware: 'uefi', tpm: true });
  });

  it('a known release under a volume id its media patterns miss is still that release', () => {
    const m = recognizeOs({ ...infos.debian11, volumeId: 'Debian 11.11.0 amd64 DVD' }, osinfoTable());
    expect(m).toMatchObject({ id: 'http://debian.org/debian/11', name: 'Debian 11', confidence: 'exact' });
    expect(m.notes).toContain("Recognised from the volume id's naming scheme, not from an osinfo media entry.");
  });

  it('a BIOS-only disc of an OS that needs UEFI gets BIOS and a note', () => {
    const m = recognizeOs({ ...infos.windows11, bootable: { bios: true, uefi: false } }, osinfoTable());
    expect(m.firmware).toBe('bios');
    expect(m.notes).toContain('This OS needs UEFI, but the disc boots only with BIOS.');
  });

  it('suggests a safe name for any volume id', () => {
    const generic = recognizeOs({ ...infos.data, volumeId: '../.hidden/ESCAPE_ME' + 'X'.repeat(80) }, osinfoTable());
    const name = suggestVmName(generic, { ...infos.data, volumeId: '../.hidden/ESCAPE_ME' + 'X'.repeat(80) });
    expect(vmNameProblem(name)).toBeUndefined();
    expect(name.startsWith('.')).toBe(false);
    expect(suggestVmName(generic, { ...infos.data, volumeId: '', path: '/x/.iso', joliet: null })).toBe('New VM');
  });

  it('is fast once the data is loaded', () => {
    const db = osinfoTable();
    const t = performance.now();
    for (let i = 0; i < 100; i++) recognizeOs(infos.ubuntu, db);
    expect((performance.now() - t) / 100).toBeLessThan(20);
  });
});
