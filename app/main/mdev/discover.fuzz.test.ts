/**
 * Hostile sysfs trees: random parents, types and devices with garbage attribute contents
 * (binary, huge, negative, non-numeric), dangling and looping symlinks, files where directories
 * belong. Discovery must answer every time — an inventory with notes, never a throw or a hang.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { discoverMdev } from './discover.js';
import { nodeMdevFs } from './sysfs-io.js';
import { prng } from '../testing/prng.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sysfuzz-'));
/** The generator may collide with itself (".." names, repeated picks): a tree that could not be
 * built exactly as drawn is still a valid hostile tree. */
const tolerant = (fn: () => unknown) => {
  try {
    fn();
  } catch {
    /* collision */
  }
};
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('mdev discovery under hostile sysfs trees', () => {
  it('returns an inventory for 300 random broken trees', async () => {
    const seed = Number(process.env.VMDESK_FUZZ_SEED ?? 1234);
    const rand = prng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const garbage = (): string | Buffer =>
      pick<string | Buffer>([
        '',
        '-1',
        '18446744073709551616',
        'NaN',
        '3\n',
        'i915',
        'x'.repeat(200_000),
        Buffer.from([0, 255, 254, 10]),
        'num_heads=4, framebuffer=2048M, max_resolution=99999999x99999999',
        'resolution: 1920x1200\nweight: 4',
        '../../../etc/passwd',
      ]);
    const names = [
      '0000:00:02.0',
      'mtty',
      '..evil',
      'a b',
      'i915-GVTg_V5_4',
      'nvidia-63',
      '\u202eabc',
      'x'.repeat(200),
    ];
    let parents = 0;
    for (let i = 0; i < 300; i++) {
      const sys = path.join(root, String(i));
      const bus = path.join(sys, 'sys/class/mdev_bus');
      const devs = path.join(sys, 'sys/bus/mdev/devices');
      tolerant(() => fs.mkdirSync(bus, { recursive: true }));
      tolerant(() => fs.mkdirSync(devs, { recursive: true }));
      for (let p = Math.floor(rand() * 4); p > 0; p--) {
        const name = pick(names) + p;
        const dev = path.join(sys, 'sys/devices', name);
        const kind = rand();
        if (kind < 0.15)
          tolerant(() => fs.symlinkSync('/nonexistent/dev', path.join(bus, name))); // dangling
        else if (kind < 0.25)
          tolerant(() => fs.symlinkSync(path.join(bus, name), path.join(bus, name))); // loop
        else if (kind < 0.35)
          tolerant(() => fs.writeFileSync(path.join(bus, name), garbage())); // a file, not a dir
        else {
          tolerant(() => fs.mkdirSync(dev, { recursive: true }));
          tolerant(() => fs.symlinkSync(dev, path.join(bus, name)));
          for (const f of ['vendor', 'device', 'class'])
            if (rand() < 0.7) tolerant(() => fs.writeFileSync(path.join(dev, f), garbage()));
          if (rand() < 0.5)
            tolerant(() =>
              fs.symlinkSync(
                pick(['/nonexistent', dev, path.join(sys, 'sys/bus/pci/drivers/i915')]),
                path.join(dev, 'driver'),
              ),
            );
          const types = path.join(dev, 'mdev_supported_types');
          if (rand() < 0.2) tolerant(() => fs.writeFileSync(types, garbage()));
          else {
            tolerant(() => fs.mkdirSync(types, { recursive: true }));
            for (let t = Math.floor(rand() * 4); t > 0; t--) {
              const td = path.join(types, pick(names) + t);
              if (rand() < 0.1) {
                tolerant(() => fs.writeFileSync(td, garbage()));
                continue;
              }
              tolerant(() => fs.mkdirSync(td, { recursive: true }));
              for (const f of ['name', 'description', 'device_api', 'available_instances', 'create'])
                if (rand() < 0.8) tolerant(() => fs.writeFileSync(path.join(td, f), garbage()));
              if (rand() < 0.3) tolerant(() => fs.mkdirSync(path.join(td, 'devices')));
            }
          }
          parents++;
        }
      }
      for (let d = Math.floor(rand() * 3); d > 0; d--) {
        const u =
          pick(['0b5c5d7e-1111-4222-8333-444455556666', 'not-a-uuid', '..', 'x'.repeat(100)]) +
          (rand() < 0.5 ? '' : String(d));
        const kind = rand();
        if (kind < 0.3) tolerant(() => fs.symlinkSync('/nonexistent/mdev', path.join(devs, u)));
        else if (kind < 0.4) tolerant(() => fs.writeFileSync(path.join(devs, u), garbage()));
        else {
          const md = path.join(sys, 'sys/devices/virtual', u);
          tolerant(() => fs.mkdirSync(md, { recursive: true }));
          tolerant(() => fs.symlinkSync(md, path.join(devs, u)));
          if (rand() < 0.7)
            tolerant(() =>
              fs.symlinkSync(pick(['/nonexistent', md, path.join(sys, 'sys/devices')]), path.join(md, 'mdev_type')),
            );
          if (rand() < 0.5)
            tolerant(() => fs.symlinkSync('/sys/kernel/iommu_groups/../../..', path.join(md, 'iommu_group')));
        }
      }
      const inv = await discoverMdev({ fs: nodeMdevFs, roots: { sysfsRoot: sys } });
      expect(Array.isArray(inv.parents)).toBe(true);
      expect(Array.isArray(inv.devices)).toBe(true);
      for (const p of inv.parents) for (const t of p.types) expect(typeof t.id).toBe('string');
      expect(JSON.stringify(inv).length).toBeLessThan(5_000_000);
    }
    console.log(`sysfs fuzz (seed ${seed}): 300 trees, ${parents} parent directories`);
  }, 120_000);
});
