import { describe, expect, it } from 'vitest';
import {
  defaultInstance,
  parentTitle,
  problemsFirst,
  proposal,
  reportHeadline,
  typeRows,
  type MdevCheck,
  type MdevInventory,
  type MdevParent,
  type MdevType,
} from './vgpu-model.js';

const U1 = '4b20d080-1b54-4048-81ae-217b1e2a2bd3';
const U2 = '8a6f3b32-5f7a-4d2a-9b8e-0b7c1f2d3e4f';

const type = (id: string, over: Partial<MdevType> = {}): MdevType => ({
  id,
  parent: 'p',
  name: id.toUpperCase(),
  details: {},
  summary: '',
  deviceApi: 'vfio-pci',
  availableInstances: 2,
  canCreate: true,
  instances: [],
  display: 'none',
  problems: [],
  ...over,
});

function host(types: MdevType[], used: Record<string, string[]> = {}): { inv: MdevInventory; parent: MdevParent } {
  const parent: MdevParent = { name: 'p', vendor: 'other', hasTypesDir: true, types, problems: [] };
  const devices = types.flatMap((t) =>
    t.instances.map((uuid) => ({
      uuid,
      type: t.id,
      parent: 'p',
      problems: [],
      usedBy: (used[uuid] ?? []).map((n) => ({ id: n, name: n })),
    })),
  );
  return { inv: { parents: [parent], devices, mdevctl: { installed: false, definitions: [] }, notes: [] }, parent };
}

describe('vGPU wizard model', () => {
  it('says why a type cannot be picked, and lets a free existing device count', () => {
    const { inv, parent } = host(
      [
        type('full', { availableInstances: 0 }),
        type('full-but-unused', { availableInstances: 0, instances: [U1] }),
        type('full-and-used', { availableInstances: 0, instances: [U2] }),
        type('no-create', { canCreate: false }),
        type('ccw', { deviceApi: 'vfio-ccw' }),
        type('fine', { details: { resolution: '1920x1200', heads: 4 }, summary: '1920x1200, 4 heads' }),
      ],
      { [U2]: ['win10'] },
    );
    const rows = Object.fromEntries(typeRows(inv, parent).map((r) => [r.type.id, r]));
    expect(rows.full!.blocked).toBe('none left: remove an unused device or pick a smaller type');
    expect(rows['full-but-unused']).toMatchObject({ unused: 1 });
    expect(rows['full-but-unused']!.blocked).toBeUndefined();
    expect(rows['full-and-used']!.blocked).toMatch(/none left/);
    expect(rows['no-create']!.blocked).toBe('cannot be created (no create file)');
    expect(rows.ccw!.blocked).toBe('vfio-ccw device: only vfio-pci can be assigned');
    expect(rows.fine).toMatchObject({ label: 'FINE (fine)', summary: '1920x1200, 4 heads', free: 2 });
    expect(rows.fine!.blocked).toBeUndefined();
  });

  it('starts with a free existing device (no root needed), else a new one', () => {
    const { inv } = host([type('a', { instances: [U2, U1] })], { [U2]: ['busy'] });
    expect(defaultInstance(inv, inv.parents[0]!.types[0]!)).toBe(U1);
    const { inv: none } = host([type('b', { instances: [U2] })], { [U2]: ['busy'] });
    expect(defaultInstance(none, none.parents[0]!.types[0]!)).toBe('new');
  });

  it('never proposes a display for a type without one', () => {
    const { parent } = host([type('mtty-2'), type('mdpy-hd', { display: 'region' })]);
    expect(proposal(parent, parent.types[0]!, U1.toUpperCase(), true)).toEqual({
      uuid: U1,
      parent: 'p',
      type: 'mtty-2',
      display: false,
    });
    expect(proposal(parent, parent.types[1]!, U1, true).display).toBe(true);
    expect(proposal(parent, parent.types[1]!, U1, false).display).toBe(false);
  });

  it('sums a report up in one line', () => {
    const c = (status: MdevCheck['status']): MdevCheck => ({ id: 'iommu', title: 't', status, detail: 'd' });
    expect(reportHeadline({ checks: [c('pass'), c('pass')] })).toEqual({ tone: 'ok', text: 'Ready' });
    expect(reportHeadline({ checks: [c('pass'), c('warn')] })).toEqual({ tone: 'warn', text: 'Ready, 1 warning' });
    expect(reportHeadline({ checks: [c('fail'), c('fail'), c('warn'), c('warn')] })).toEqual({
      tone: 'bad',
      text: '2 problems to fix, 2 warnings',
    });
  });

  it("lists problems first, then warnings, keeping the doctor's order within each", () => {
    const c = (id: MdevCheck['id'], status: MdevCheck['status']): MdevCheck => ({ id, title: id, status, detail: '' });
    const out = problemsFirst([
      c('parent', 'pass'),
      c('iommu', 'warn'),
      c('device', 'fail'),
      c('memlock', 'fail'),
      c('display', 'warn'),
    ]);
    expect(out.map((x) => x.id)).toEqual(['device', 'memlock', 'iommu', 'display', 'parent']);
  });

  it('names a parent by its PCI names, or as a sample driver', () => {
    expect(
      parentTitle({
        name: '0000:00:02.0',
        vendor: 'intel-gvtg',
        pci: { vendorId: '8086', deviceId: '3e92', vendorName: 'Intel Corporation', deviceName: 'UHD 630' },
        hasTypesDir: true,
        types: [],
        problems: [],
      }),
    ).toBe('Intel Corporation UHD 630');
    expect(
      parentTitle({
        name: '0000:01:00.0',
        vendor: 'nvidia',
        pci: { vendorId: '10de', deviceId: '1bb3' },
        hasTypesDir: true,
        types: [],
        problems: [],
      }),
    ).toBe('NVIDIA GPU 10de:1bb3');
    expect(parentTitle({ name: 'mtty', vendor: 'mtty', hasTypesDir: true, types: [], problems: [] })).toBe(
      'mtty (kernel sample driver)',
    );
  });
});
