/**
 * The vmFolder and isoFolder settings with the real CLI, real qemu-img and QEMU (TCG), and the
 * real `vmdesk web` upload: a VM made while a VM folder is set keeps its disk, UEFI variables and
 * snapshots in `<folder>/<name>-<id8>`, runs from there, is cloned there, and its folder goes when
 * it is deleted; VMs made before keep their place. Uploads land in the ISO folder, and the ISO
 * library lists it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { guestIso, Sandbox } from './support/cli.js';
import { startWeb } from './support/web.js';

let sandboxes: Sandbox[] = [];
afterEach(() => {
  for (const s of sandboxes) s.cleanup();
  sandboxes = [];
});

describe('the VM and ISO folders of Preferences', () => {
  it('puts a new VM’s disk, UEFI variables and snapshots in the VM folder, clones there, and deletes its folder with it', async () => {
    const s = new Sandbox();
    sandboxes.push(s);
    const before = await s.json<VmSummary>(['define', '--name', 'old', '--memory', '128M', '--disk-size', '64M']);
    const defaultDir = path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'vms', before.id);
    expect(before.definition!.disks[0]!.path).toBe(path.join(defaultDir, 'disk0.qcow2'));
    expect(before.definition!.dataDir).toBeUndefined();

    // The folder (with a space in its path) is made on first use.
    const folder = path.join(s.root, 'big disk', 'VMs');
    const set = await s.run(['settings', 'set', 'vmFolder', folder]);
    expect(set.stderr).toContain(
      `The VM folder ${folder} does not exist yet: vmdesk makes it when it first puts something there.`,
    );
    expect(set.stdout).toContain(`vmFolder = ${folder}`);
    const made = await s.json<VmSummary>([
      'define',
      '--name',
      'far',
      '--memory',
      '128M',
      '--disk-size',
      '64M',
      '--firmware',
      'uefi',
      '--cdrom',
      guestIso(),
    ]);
    const dir = path.join(folder, `far-${made.id.replace(/-/g, '').slice(0, 8)}`);
    expect(made.definition!.dataDir).toBe(dir);
    expect(made.definition!.disks[0]!.path).toBe(path.join(dir, 'disk0.qcow2'));
    expect(made.definition!.nvram).toBe(path.join(dir, 'efivars.fd'));
    expect(fs.statSync(path.join(dir, 'disk0.qcow2')).isFile()).toBe(true);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    // Nothing of it in the default place; the VM made before stays where it was.
    expect(fs.existsSync(path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'vms', made.id))).toBe(false);
    expect((await s.json<VmSummary>(['info', 'old'])).definition!.disks[0]!.path).toBe(
      path.join(defaultDir, 'disk0.qcow2'),
    );

    // It runs from there, and a snapshot's record is kept in its folder.
    const started = await s.run(['start', 'far']);
    expect(started.code).toBe(0);
    const cmdline = fs.readFileSync(`/proc/${(await s.json<VmSummary>(['info', 'far'])).pid}/cmdline`, 'utf8');
    expect(cmdline).toContain(path.join(dir, 'disk0.qcow2'));
    expect((await s.run(['stop', 'far'])).code).toBe(0);
    const snap = await s.run(['snapshot', 'create', 'far', 'clean']);
    expect(snap.stderr).toBe('');
    expect(fs.existsSync(path.join(dir, 'snapshots.json'))).toBe(true);

    // A clone goes to the VM folder too, in its own folder.
    const clone = await s.json<VmSummary>(['clone', 'far', 'near']);
    const cloneDir = path.join(folder, `near-${clone.id.replace(/-/g, '').slice(0, 8)}`);
    expect(clone.definition!.dataDir).toBe(cloneDir);
    expect(clone.definition!.disks[0]!.path).toBe(path.join(cloneDir, 'disk0.qcow2'));
    expect(clone.definition!.nvram).toBe(path.join(cloneDir, 'efivars.fd'));

    // Delete takes the folder; going back to the default puts the next VM in vmdesk's own folder.
    expect((await s.run(['delete', 'far', '--delete-disks'])).code).toBe(0);
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.existsSync(cloneDir)).toBe(true);
    expect((await s.run(['settings', 'set', 'vmFolder', 'default'])).code).toBe(0);
    const back = await s.json<VmSummary>(['define', '--name', 'home', '--memory', '128M', '--disk-size', '64M']);
    expect(back.definition!.dataDir).toBeUndefined();
    expect(path.dirname(back.definition!.disks[0]!.path)).toBe(
      path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'vms', back.id),
    );
  }, 180_000);

  it('imports a BIOS domain with --copy-disks into vmdesk’s folder and into the VM folder (the copy used to have no folder to go to)', async () => {
    const s = new Sandbox();
    sandboxes.push(s);
    await s.json<VmSummary>(['define', '--name', 'src', '--memory', '128M', '--disk-size', '64M']);
    const xml = path.join(s.root, 'src.xml');
    fs.writeFileSync(xml, (await s.run(['export', 'src', '--libvirt'])).stdout);
    const here = await s.run(['import', xml, '--name', 'here', '--copy-disks']);
    expect(here.stderr).not.toMatch(/ENOENT/);
    expect(here.code).toBe(0);
    const h = await s.json<VmSummary>(['info', 'here']);
    expect(h.definition!.disks[0]!.path).toBe(path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'vms', h.id, 'disk0.qcow2'));
    const folder = path.join(s.root, 'VMs');
    expect((await s.run(['settings', 'set', 'vmFolder', folder])).code).toBe(0);
    expect((await s.run(['import', xml, '--name', 'there', '--copy-disks'])).code).toBe(0);
    const t = await s.json<VmSummary>(['info', 'there']);
    const dir = path.join(folder, `there-${t.id.replace(/-/g, '').slice(0, 8)}`);
    expect(t.definition!.disks[0]!.path).toBe(path.join(dir, 'disk0.qcow2'));
    // The staging folder is gone: only the VM's own folder is left in the VM folder.
    expect(fs.readdirSync(folder)).toEqual([path.basename(dir)]);
  }, 120_000);

  it('refuses a VM folder it cannot use, before making anything, and says what to do', async () => {
    const s = new Sandbox();
    sandboxes.push(s);
    const file = path.join(s.root, 'not-a-folder');
    fs.writeFileSync(file, 'x');
    expect((await s.run(['settings', 'set', 'vmFolder', file])).code).toBe(0);
    const r = await s.run(['define', '--name', 'x', '--memory', '128M', '--disk-size', '64M']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`The VM folder ${file} (Preferences, vmFolder) cannot be used`);
    expect(r.stderr).toContain('Choose another folder in Preferences');
    expect(JSON.parse((await s.run(['list', '--json'])).stdout)).toEqual([]);
    const relative = await s.run(['settings', 'set', 'isoFolder', 'ISOs']);
    expect(relative.stdout).toContain(`isoFolder = ${path.join(process.cwd(), 'ISOs')}`);
  }, 60_000);

  it('stores uploads in the ISO folder and lists that folder in the ISO library', async () => {
    const s = new Sandbox();
    sandboxes.push(s);
    const isoFolder = path.join(s.root, 'My ISOs');
    expect((await s.run(['settings', 'set', 'isoFolder', isoFolder])).code).toBe(0);
    // A folder of the user's holds other files: only disc images count there.
    fs.mkdirSync(isoFolder, { recursive: true });
    const notes = path.join(isoFolder, 'notes.pdf');
    fs.writeFileSync(notes, '%PDF-1.7');
    const web = await startWeb(s);
    try {
      const url = new URL(web.url);
      const token = url.hash.replace('#token=', '');
      const body = fs.readFileSync(guestIso());
      const res = await fetch(`${url.origin}/upload?token=${token}&name=guest.iso`, {
        method: 'PUT',
        body,
        headers: { 'Content-Length': String(body.length) },
      });
      expect(res.status).toBe(200);
      const stored = ((await res.json()) as { path: string }).path;
      expect(stored).toBe(path.join(isoFolder, 'guest.iso'));
      const library = await s.json<{ path: string }[]>(['iso', 'list']);
      expect(library.map((i) => i.path)).toEqual([stored]);
      const rm = await s.run(['iso', 'rm', notes]);
      expect(rm.code).not.toBe(0);
      expect(rm.stderr).toContain('notes.pdf is not a disc image (.iso or .img)');
      expect(fs.existsSync(notes)).toBe(true);
      expect(fs.existsSync(path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'isos'))).toBe(false);
    } finally {
      await web.stop();
    }
  }, 120_000);
});
