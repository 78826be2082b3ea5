/**
 * The ISO library dialog's calls, on the demo fake (app/renderer/dev/fake-api.ts, which mirrors
 * the driver's iso.list / iso.remove: refused while a VM uses the image, not-found once gone).
 * The real driver's side is tested in app/main/iso and e2e/iso-library*.int.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFakeApi, type FakeApi } from '../../dev/fake-api.js';
import { connectStore, resetStore } from '../../store/actions.js';
import { listIsoLibrary, removeIso } from './iso-library-actions.js';
import { isoLibraryView } from './iso-library-model.js';

describe('the ISO library dialog’s calls', () => {
  let fake: FakeApi;
  let disconnect: () => void;
  beforeEach(() => {
    resetStore();
    fake = createFakeApi({ latencyMs: 0 });
    disconnect = connectStore(fake);
  });
  afterEach(() => disconnect());

  const byName = async (name: string) => {
    const e = (await listIsoLibrary()).find((x) => x.name === name);
    if (!e) throw new Error(`no ${name} in the library`);
    return e;
  };

  it('deletes an unused image and returns the list read after, without it', async () => {
    const drivers = await byName('drivers.iso');
    const out = await removeIso(drivers.path, drivers.name);
    expect(out).toMatchObject({ removed: true, message: null });
    expect(out.entries!.map((e) => e.name)).not.toContain('drivers.iso');
    expect((await listIsoLibrary()).map((e) => e.name)).toEqual(out.entries!.map((e) => e.name));
  });

  it('shows the driver’s refusal when a VM took the image since the list was read, and the list with that VM', async () => {
    const drivers = await byName('drivers.iso');
    expect(isoLibraryView([drivers]).rows[0]!.canDelete).toBe(true);
    await fake.call('vm.define', { name: 'driver-disc', memoryMiB: 512, cpus: 1, cdrom: drivers.path });
    const out = await removeIso(drivers.path, drivers.name);
    expect(out).toMatchObject({ removed: false, tone: 'error', message: expect.stringMatching(/driver-disc/) });
    const row = isoLibraryView(out.entries).rows.find((r) => r.name === 'drivers.iso')!;
    expect(row).toMatchObject({ usage: 'Used by “driver-disc”', canDelete: false });
  });

  it('says an image removed meanwhile is gone, as information, with the list without it', async () => {
    const drivers = await byName('drivers.iso');
    await fake.call('iso.remove', { path: drivers.path });
    const out = await removeIso(drivers.path, drivers.name);
    expect(out).toMatchObject({
      removed: false,
      tone: 'info',
      message: 'drivers.iso is no longer in the library: it was removed meanwhile.',
    });
    expect(out.entries!.map((e) => e.name)).not.toContain('drivers.iso');
  });
});
