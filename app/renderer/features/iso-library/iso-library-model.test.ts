import { describe, expect, it } from 'vitest';
import type { IsoLibraryEntry } from '../../../main/common/contract.js';
import { formatDateTime } from '../vm-details/format.js';
import {
  DEFAULT_LIBRARY_DIR,
  isoLibraryView,
  isoRow,
  libraryFolder,
  librarySummary,
  stillConfirmable,
  usageText,
} from './iso-library-model.js';

const DIR = '/home/ada/.local/share/vmdesk/isos';
const entry = (name: string, over: Partial<IsoLibraryEntry> = {}): IsoLibraryEntry => ({
  path: `${DIR}/${name}`,
  name,
  sizeBytes: 4 * 2 ** 20,
  storedAt: '2025-02-04T08:15:00.000Z',
  usedBy: [],
  ...over,
});
const debian = entry('debian-12.iso', {
  sizeBytes: 661_651_456,
  os: 'Debian 12',
  usedBy: [{ id: 'a', name: 'web' }],
});
const drivers = entry('drivers.iso');

describe('a row of the ISO library', () => {
  it('shows an image in use with its VM, and offers no Delete', () => {
    expect(isoRow(debian)).toEqual({
      path: `${DIR}/debian-12.iso`,
      name: 'debian-12.iso',
      size: '631 MiB',
      os: 'Debian 12',
      recognised: true,
      stored: `Stored ${formatDateTime('2025-02-04T08:15:00.000Z')}`,
      usage: 'Used by “web”',
      canDelete: false,
      hint: 'To delete it, eject it from that VM first.',
    });
  });

  it('shows an unused image as not used, deletable, and says when its OS is not recognised', () => {
    expect(isoRow(drivers)).toMatchObject({
      size: '4 MiB',
      os: 'OS not recognised',
      recognised: false,
      usage: 'Not used',
      canDelete: true,
      hint: null,
    });
  });

  it('names every VM that uses an image', () => {
    const two = [
      { id: 'a', name: 'web' },
      { id: 'b', name: 'db one' },
    ];
    expect(usageText(two)).toBe('Used by “web”, “db one”');
    expect(isoRow(entry('x.iso', { usedBy: two })).hint).toBe('To delete it, eject it from those VMs first.');
  });
});

describe('the whole library', () => {
  it('says where the images live, from their paths, or the XDG default when there are none', () => {
    expect(libraryFolder([drivers])).toBe(`${DIR}/`);
    expect(libraryFolder([])).toBeNull();
    expect(isoLibraryView([]).folder).toBeNull();
    expect(DEFAULT_LIBRARY_DIR).toBe('$XDG_DATA_HOME/vmdesk/isos/');
    expect(isoLibraryView([debian]).folder).toBe(`${DIR}/`);
  });

  it('sums the sizes, and what deleting the unused ones would free', () => {
    expect(librarySummary([])).toBe('No images stored');
    expect(librarySummary([debian])).toBe('1 image, 631 MiB · all in use');
    expect(librarySummary([drivers])).toBe('1 image, 4 MiB · none in use');
    expect(librarySummary([debian, drivers])).toBe('2 images, 635 MiB · 1 not used (4 MiB)');
  });

  it('is empty only once read: before that it is reading', () => {
    expect(isoLibraryView(null)).toMatchObject({ empty: false, rows: [], summary: 'Reading the library…' });
    expect(isoLibraryView([])).toMatchObject({ empty: true, rows: [] });
    expect(isoLibraryView([debian, drivers]).rows.map((r) => r.name)).toEqual(['debian-12.iso', 'drivers.iso']);
  });

  it('sorts by name as people do: case aside, numbers by value', () => {
    const names = ['win11.iso', 'Fedora-41.iso', 'debian-12.iso', 'win10.iso', 'win9.iso'];
    const rows = isoLibraryView(names.map((n) => entry(n))).rows;
    expect(rows.map((r) => r.name)).toEqual(['debian-12.iso', 'Fedora-41.iso', 'win9.iso', 'win10.iso', 'win11.iso']);
  });

  it('drops a pending confirmation when the image is gone or a VM took it meanwhile', () => {
    expect(stillConfirmable([drivers], drivers.path)).toBe(drivers.path);
    expect(stillConfirmable([debian], drivers.path)).toBeNull();
    expect(stillConfirmable([{ ...drivers, usedBy: [{ id: 'b', name: 'new' }] }], drivers.path)).toBeNull();
    expect(stillConfirmable(null, drivers.path)).toBeNull();
    expect(stillConfirmable([drivers], null)).toBeNull();
  });
});
