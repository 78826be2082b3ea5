/**
 * The VM folder of Preferences (vmFolder) against a real VmManager over temp XDG dirs (fake QEMU;
 * disks made by the real qemu-img): where a VM's files go, and that nothing outside a VM's own
 * folder is ever removed with it. Found in review; each case failed before its fix.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { AppPaths } from '../paths/app-paths.js';
import { tempAppPaths } from '../paths/testing/temp-paths.js';
import { intentsDir } from '../paths/vm-files.js';
import { FakeQemuLauncher } from '../qemu/testing/fake-launcher.js';
import { settingsFile, writeSettings } from './app-settings.js';
import { FakeHost } from './testing/fake-host.js';
import { VmManager } from './vm-manager.js';

let roots: string[] = [];
let managers: VmManager[] = [];
afterEach(async () => {
  for (const m of managers) await m.detachAll();
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  roots = [];
  managers = [];
});

function sandbox(): { paths: AppPaths; root: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vd-vmfolder-'));
  roots.push(root);
  return { root, paths: tempAppPaths(root) };
}

async function manager(paths: AppPaths): Promise<VmManager> {
  const m = new VmManager(paths, new FakeHost(), { launcher: new FakeQemuLauncher() });
  managers.push(m);
  await m.init();
  return m;
}

const withDisk = (name: string) => ({ name, memoryMiB: 64, cpus: 1, disk: { sizeBytes: 2 ** 20 } });

it('gives a VM read broken, then repaired, its own folder (TPM state and snapshots follow)', async () => {
  const { paths, root } = sandbox();
  writeSettings(settingsFile(paths), { vmFolder: `${root}/VMs` });
  let m = await manager(paths);
  const made = await m.define(withDisk('w'));
  const good = fs.readFileSync(made.file, 'utf8');
  await m.detachAll();
  fs.writeFileSync(made.file, '{ broken');
  m = await manager(paths);
  fs.writeFileSync(made.file, good);
  const vm = m.resolve(made.id);
  vm.refresh();
  expect(vm.summary().state).toBe('stopped');
  expect(vm.files.dataDir).toBe(made.definition!.dataDir);
  expect(vm.files.tpmStateDir).toBe(path.join(made.definition!.dataDir!, 'tpm'));
});

it('deletes the VM folder of a VM whose file broke after it was read', async () => {
  const { paths, root } = sandbox();
  writeSettings(settingsFile(paths), { vmFolder: `${root}/VMs` });
  const m = await manager(paths);
  const made = await m.define(withDisk('w'));
  const dir = made.definition!.dataDir!;
  expect(fs.readdirSync(dir)).toEqual(['disk0.qcow2']);
  fs.writeFileSync(made.file, '{ broken');
  const r = await m.delete({ vm: made.id, keepDisks: false });
  expect(r.removed).toContain(dir);
  expect(fs.existsSync(dir)).toBe(false);
  expect(fs.existsSync(`${root}/VMs`)).toBe(true);
});

it('refuses a definition whose dataDir is not a folder vmdesk made for it, and deletes nothing of that folder', async () => {
  const { paths, root } = sandbox();
  writeSettings(settingsFile(paths), { vmFolder: `${root}/VMs` });
  const m = await manager(paths);
  const a = await m.define(withDisk('a'));
  const b = await m.define(withDisk('b'));
  const def = JSON.parse(fs.readFileSync(a.file, 'utf8')) as Record<string, unknown>;
  def.dataDir = `${root}/VMs`;
  fs.writeFileSync(a.file, JSON.stringify(def));
  m.resolve(a.id).refresh();
  const broken = m.get(a.id);
  expect(broken.state).toBe('broken');
  expect(broken.reason).toMatch(
    /is not a folder vmdesk made for this VM .*deleting the VM would remove that whole folder/,
  );
  await m.delete({ vm: a.id });
  expect(fs.existsSync(b.definition!.disks[0]!.path)).toBe(true);
});

it('refuses a VM folder inside another VM’s folder, naming that VM', async () => {
  const { paths } = sandbox();
  const m = await manager(paths);
  const outer = await m.define(withDisk('outer'));
  writeSettings(settingsFile(paths), { vmFolder: path.dirname(outer.definition!.disks[0]!.path) });
  await expect(m.define(withDisk('inner'))).rejects.toThrow(
    /cannot be used: it is inside the folder of the VM "outer", which goes when that VM is deleted/,
  );
  expect(m.list().map((v) => v.name)).toEqual(['outer']);
});

it('makes a folder for a 64-emoji name (cut to 200 bytes) and for a name a FAT disk refuses', async () => {
  const { paths, root } = sandbox();
  writeSettings(settingsFile(paths), { vmFolder: `${root}/VMs` });
  const m = await manager(paths);
  const long = await m.define(withDisk('😀'.repeat(63) + 'a'));
  const base = path.basename(long.definition!.dataDir!);
  expect(Buffer.byteLength(base)).toBeLessThanOrEqual(209);
  expect(base).toMatch(/^(😀)+-[0-9a-f]{8}$/u);
  const odd = await m.define(withDisk('a:b?c'));
  expect(path.basename(odd.definition!.dataDir!)).toMatch(/^a_b_c-[0-9a-f]{8}$/);
  expect(fs.readdirSync(intentsDir(paths))).toEqual([]);
  // A new driver over the same files starts.
  await m.detachAll();
  expect((await manager(paths)).list()).toHaveLength(2);
});
