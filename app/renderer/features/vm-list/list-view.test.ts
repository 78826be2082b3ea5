import { describe, expect, it } from 'vitest';
import type { VmDefinition, VmState, VmSummary } from '../../../main/common/vm-types.js';
import { sampleDefinition } from '../../dev/fake-data.js';
import { filterVms, loadSort, osOf, saveSort, sortVms } from './list-view.js';

function vm(name: string, state: VmState = 'stopped', over: Partial<VmDefinition> = {}, startedAt?: string): VmSummary {
  return {
    id: `id-${name}`,
    name,
    state,
    file: `/c/${name}.json`,
    ...(startedAt ? { startedAt } : {}),
    definition: sampleDefinition(`id-${name}`, name, { createdAt: '2026-01-01T00:00:00.000Z', ...over }),
  };
}

const names = (vms: VmSummary[]) => vms.map((v) => v.name);

describe('the VM list search', () => {
  const vms = [
    vm('web', 'running', { os: { id: 'http://debian.org/debian/12', name: 'Debian 12' } }),
    vm('Büro', 'paused', { os: { id: 'http://microsoft.com/win/11', name: 'Microsoft Windows 11' } }),
    vm('scratch', 'stopped', { cdroms: ['/isos/Fedora-Workstation-Live-x86_64-40.iso'] }),
  ];

  it('matches names, case and accents ignored', () => {
    expect(names(filterVms(vms, 'buro'))).toEqual(['Büro']);
    expect(names(filterVms(vms, '  WE '))).toEqual(['web']);
  });

  it('matches the OS and the state, every word', () => {
    expect(names(filterVms(vms, 'debian'))).toEqual(['web']);
    expect(names(filterVms(vms, 'windows paused'))).toEqual(['Büro']);
    expect(names(filterVms(vms, 'windows running'))).toEqual([]);
    expect(names(filterVms(vms, 'fedora'))).toEqual(['scratch']);
  });

  it('lets everything through when empty', () => {
    expect(names(filterVms(vms, ' '))).toEqual(['web', 'Büro', 'scratch']);
  });
});

describe('the VM list sort', () => {
  const a = vm('a', 'stopped', { createdAt: '2026-01-03T00:00:00.000Z' });
  const b = vm('b', 'running', {}, '2026-02-01T10:00:00.000Z');
  const c = vm('c', 'paused', {}, '2026-02-01T11:00:00.000Z');
  const d = vm('d', 'crashed', { createdAt: '2026-01-02T00:00:00.000Z' });

  it('by name', () => {
    expect(names(sortVms([d, c, b, a], 'name'))).toEqual(['a', 'b', 'c', 'd']);
  });

  it('by state: live first, then those that need a look, then the stopped', () => {
    expect(names(sortVms([a, b, c, d], 'state'))).toEqual(['b', 'c', 'd', 'a']);
  });

  it('by last use: live VMs (latest started first), then by when the screen was last seen, else created', () => {
    expect(names(sortVms([a, b, c, d], 'lastUsed'))).toEqual(['c', 'b', 'a', 'd']);
    const seen = (id: string) => (id === 'id-d' ? '2026-01-20T00:00:00.000Z' : undefined);
    expect(names(sortVms([a, b, c, d], 'lastUsed', seen))).toEqual(['c', 'b', 'd', 'a']);
  });

  it('by last use: a stopped VM that ran later (lastRunAt) comes before one whose screen was seen earlier', () => {
    const ranLate = { ...a, lastRunAt: '2026-01-25T00:00:00.000Z' };
    const seen = (id: string) => (id === 'id-d' ? '2026-01-20T00:00:00.000Z' : undefined);
    expect(names(sortVms([ranLate, b, c, d], 'lastUsed', seen))).toEqual(['c', 'b', 'a', 'd']);
    // The later of the two times counts: a screen seen after the last recorded stop.
    const seenLater = (id: string) => (id === 'id-a' ? '2026-01-30T00:00:00.000Z' : undefined);
    const ranEarly = { ...d, lastRunAt: '2026-01-28T00:00:00.000Z' };
    expect(names(sortVms([a, ranEarly], 'lastUsed', seenLater))).toEqual(['a', 'd']);
  });

  it('keeps the chosen order in storage and ignores what it does not know', () => {
    const store = new Map<string, string>();
    const storage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v),
    };
    expect(loadSort(storage)).toBe('name');
    saveSort('lastUsed', storage);
    expect(loadSort(storage)).toBe('lastUsed');
    store.set('vmdesk.vmList.sort', 'size');
    expect(loadSort(storage)).toBe('name');
  });
});

describe('the OS of a VM', () => {
  it('is the recognised one when the wizard recognised it', () => {
    expect(
      osOf(vm('x', 'stopped', { os: { id: 'http://ubuntu.com/ubuntu/24.04', name: 'Ubuntu 24.04' } })),
    ).toMatchObject({
      key: 'ubuntu',
      name: 'Ubuntu 24.04',
    });
  });

  it('is what the guest agent reports for a VM made by hand, before any guess from its name', () => {
    const running = {
      ...vm('my-win11', 'running'),
      guest: {
        connected: true,
        info: {
          addresses: [],
          at: '2026-12-05T07:00:00.000Z',
          os: { id: 'fedora', name: 'Fedora Linux', prettyName: 'Fedora Linux 41 (Workstation Edition)' },
        },
      },
    };
    expect(osOf(running)).toMatchObject({ key: 'fedora', name: 'Fedora Linux 41 (Workstation Edition)' });
  });

  it('is guessed from the installer file name or the VM name, else unknown', () => {
    expect(osOf(vm('x', 'stopped', { cdroms: ['/i/debian-12.5.0-amd64-netinst.iso'] }))?.key).toBe('debian');
    expect(osOf(vm('my-win11')))?.toMatchObject({ key: 'windows' });
    expect(osOf(vm('box'))).toBeUndefined();
  });

  it('names an OS outside the known families as the wizard did', () => {
    expect(osOf(vm('x', 'stopped', { os: { id: 'http://haiku-os.org/haiku/r1', name: 'Haiku R1' } }))).toMatchObject({
      key: 'other',
      name: 'Haiku R1',
      mark: 'H',
    });
  });
});
