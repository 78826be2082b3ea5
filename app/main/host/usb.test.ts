// listUsbDevices on a sysfs tree shaped like a laptop's (fixtures/usb/sys: a root hub per bus, an
// external hub, interfaces, a device being unplugged), with /dev/bus/usb nodes made per test.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import {
  canOpenReadWrite,
  checkUsbAccess,
  listUsbDevices,
  usbAccessFix,
  usbRuleApply,
  usbRuleFile,
  usbRuleLine,
  type UsbDevice,
} from './usb.js';
import { createHwIdsLookup, findHwNames } from './hw-ids.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, 'fixtures', 'usb');
const sysRoot = path.join(FIXTURE, 'sys');
const IDS = path.join(FIXTURE, 'usb.ids');

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'vmdesk-usb-'));
  dirs.push(d);
  return d;
}

/** /dev/bus/usb/BBB/DDD for these (bus, address, mode); returns the dev root. */
function devTree(nodes: [number, number, number][]): string {
  const root = tempDir();
  for (const [bus, addr, mode] of nodes) {
    const dir = path.join(root, 'bus', 'usb', String(bus).padStart(3, '0'));
    mkdirSync(dir, { recursive: true });
    const node = path.join(dir, String(addr).padStart(3, '0'));
    writeFileSync(node, '');
    chmodSync(node, mode);
  }
  return root;
}

const byPort = (list: UsbDevice[], port: string): UsbDevice => {
  const d = list.find((x) => x.port === port);
  if (!d) throw new Error(`no ${port} in ${list.map((x) => x.port).join(' ')}`);
  return d;
};

describe('listUsbDevices', () => {
  it('lists the devices, not root hubs, hubs, interfaces or a half-unplugged device, in port order', async () => {
    const t0 = performance.now();
    const list = await listUsbDevices({ sysRoot, devRoot: devTree([]), idsPaths: [IDS] });
    console.info(`[usb.test] listUsbDevices on the fixture: ${(performance.now() - t0).toFixed(1)} ms`);
    // 1-1.2 before 1-1.10: port numbers compare as numbers
    expect(list.map((d) => d.port)).toEqual(['1-1.2', '1-1.10', '1-3', '1-4', '2-1']);
  });

  it('lists external hubs when asked, never root hubs', async () => {
    const list = await listUsbDevices({ sysRoot, devRoot: devTree([]), idsPaths: [IDS], includeHubs: true });
    expect(list.map((d) => d.port)).toEqual(['1-1', '1-1.2', '1-1.10', '1-3', '1-4', '2-1']);
    expect(byPort(list, '1-1')).toMatchObject({
      deviceClass: '09',
      className: 'hub',
      name: 'Genesys Logic, Inc. USB2.0 Hub',
    });
  });

  it('reads bus, address, ids, speed, class and serial, and names a device by its own strings first', async () => {
    const list = await listUsbDevices({ sysRoot, devRoot: '/nonexistent-dev', idsPaths: [IDS] });
    expect(byPort(list, '1-1.2')).toEqual({
      port: '1-1.2',
      bus: 1,
      address: 5,
      vendorId: '046d',
      productId: 'c52b',
      // usb.ids says "Logitech, Inc." / "Unifying Receiver": the device's own strings win
      vendorName: 'Logitech',
      productName: 'USB Receiver',
      name: 'Logitech USB Receiver',
      speed: 'full',
      speedMbps: 12,
      deviceClass: '00',
      className: 'hid',
      node: '/nonexistent-dev/bus/usb/001/005',
      access: expect.objectContaining({ usable: false, missing: true }),
    });
    expect(byPort(list, '2-1')).toMatchObject({
      name: 'SanDisk Ultra Fit',
      serial: '4C530001230817114092',
      speed: 'super',
      speedMbps: 5000,
      className: 'mass-storage',
      node: '/nonexistent-dev/bus/usb/002/002',
    });
    expect(byPort(list, '1-4')).toMatchObject({ serial: '4e2bb7d1a9f0', speed: 'full', className: 'vendor-specific' });
    expect(byPort(list, '1-3')).toMatchObject({ speed: 'low', speedMbps: 1.5 });
  });

  it('takes missing names from usb.ids, and says the ids when nobody knows the device', async () => {
    const list = await listUsbDevices({ sysRoot, devRoot: devTree([]), idsPaths: ['/nonexistent/usb.ids', IDS] });
    // no manufacturer or product file; idVendor written in capitals by this (fixture) kernel
    expect(byPort(list, '1-1.10')).toMatchObject({
      vendorId: '0bda',
      productId: '8153',
      vendorName: 'Realtek Semiconductor Corp.',
      productName: 'RTL8153 Gigabit Ethernet Adapter',
      name: 'Realtek Semiconductor Corp. RTL8153 Gigabit Ethernet Adapter',
    });
    // its own product string, the vendor from usb.ids
    expect(byPort(list, '1-4')).toMatchObject({ vendorName: 'Synaptics, Inc.', productName: 'Fingerprint Reader' });
    // 1234 appears in usb.ids only as a line of the HUT section, which is not a vendor
    const unknown = byPort(list, '1-3');
    expect(unknown.name).toBe('USB device 1234:abcd');
    expect(unknown.vendorName).toBeUndefined();
    expect(unknown.productName).toBeUndefined();
  });

  it('lists devices without usb.ids, naming them by their strings or ids', async () => {
    const list = await listUsbDevices({ sysRoot, devRoot: devTree([]), idsPaths: ['/nonexistent/usb.ids'] });
    expect(list.map((d) => d.name)).toEqual([
      'Logitech USB Receiver',
      'USB device 0bda:8153',
      'USB device 1234:abcd',
      'Fingerprint Reader (06cb:00bd)',
      'SanDisk Ultra Fit',
    ]);
  });

  it('returns no devices on a host without USB (no /sys/bus/usb)', async () => {
    expect(await listUsbDevices({ sysRoot: tempDir(), devRoot: devTree([]) })).toEqual([]);
  });

  it('skips a device whose bus number or ids cannot be read, and keeps one whose names cannot', async () => {
    const copy = tempDir();
    cpSync(sysRoot, copy, { recursive: true, verbatimSymlinks: true });
    const dev = (port: string) => path.join(copy, 'bus', 'usb', 'devices', port);
    unlinkSync(path.join(dev('1-3'), 'devnum')); // going away
    writeFileSync(path.join(dev('2-1'), 'idProduct'), 'zz\n'); // garbage
    // A name file that cannot be read (a directory: reading it fails even for root)
    rmSync(path.join(dev('1-1.2'), 'manufacturer'));
    mkdirSync(path.join(dev('1-1.2'), 'manufacturer'));
    const list = await listUsbDevices({ sysRoot: copy, devRoot: devTree([]), idsPaths: [IDS] });
    expect(list.map((d) => d.port)).toEqual(['1-1.2', '1-1.10', '1-4']);
    expect(byPort(list, '1-1.2')).toMatchObject({ vendorName: 'Logitech, Inc.', productName: 'USB Receiver' });
  });

  it('says for a given user which nodes they can open read-write, and why not', async () => {
    const devRoot = devTree([
      [1, 5, 0o660], // the Logitech receiver: group rw
      [1, 7, 0o644], // the Ethernet adapter: group and others read only
      [1, 3, 0o460], // the fingerprint reader: owner read only, group rw
      [2, 2, 0o666],
      // 1-3 (bus 1 address 4) has no node
    ]);
    const { uid, gid } = statSync(path.join(devRoot, 'bus/usb/001/005'));
    const other = uid + 1000;
    const inGroup = await listUsbDevices({ sysRoot, devRoot, idsPaths: [IDS], uid: other, gids: [gid] });
    expect(Object.fromEntries(inGroup.map((d) => [d.port, d.access.usable]))).toEqual({
      '1-1.2': true,
      '1-1.10': false,
      '1-3': false,
      '1-4': true,
      '2-1': true,
    });
    const notInGroup = await listUsbDevices({ sysRoot, devRoot, idsPaths: [IDS], uid: other, gids: [gid + 1] });
    expect(byPort(notInGroup, '1-1.2').access.usable).toBe(false);
    expect(byPort(notInGroup, '1-1.10').access).toEqual({
      usable: false,
      missing: false,
      reason: `${devRoot}/bus/usb/001/007 is ${uid === 0 ? 'root' : uid}:${gid === 0 ? 'root' : gid} 0644, so user ${other} cannot open it read-write, and QEMU needs that to pass the device through.`,
    });
    expect(byPort(notInGroup, '1-3').access).toMatchObject({ usable: false, missing: true });
    expect(byPort(notInGroup, '1-3').access).toMatchObject({
      reason: expect.stringContaining('001/004 does not exist'),
    });
    // The owner gets the owner bits only, even when the group bits would allow it (the kernel's rule).
    const owner = await listUsbDevices({
      sysRoot,
      devRoot,
      idsPaths: [IDS],
      uid: uid === 0 ? other : uid,
      gids: [gid],
    });
    if (uid !== 0) expect(byPort(owner, '1-4').access.usable).toBe(false);
  });

  it.runIf(process.getuid?.() === 0 && spawnSync('runuser', ['--help']).status === 0)(
    'checks this process with access(2) as a normal user: a root 0600 node is not usable, a 0666 one is',
    async () => {
      const devRoot = devTree([
        [1, 5, 0o600],
        [2, 2, 0o666],
      ]);
      const work = path.dirname(devRoot);
      for (const d of [devRoot, path.join(devRoot, 'bus'), path.join(devRoot, 'bus/usb')]) chmodSync(d, 0o755);
      for (const d of ['001', '002']) chmodSync(path.join(devRoot, 'bus/usb', d), 0o755);
      // The module bundled, so `nobody` can run it with plain node.
      const out = path.join(tempDir(), 'usb.mjs');
      execFileSync(path.join(here, '../../../node_modules/.bin/esbuild'), [
        path.join(here, 'usb.ts'),
        '--bundle',
        '--platform=node',
        '--format=esm',
        `--outfile=${out}`,
        '--log-level=warning',
      ]);
      chmodSync(path.dirname(out), 0o755);
      const script = `const m = await import(${JSON.stringify(out)}); const l = await m.listUsbDevices({ sysRoot: ${JSON.stringify(sysRoot)}, devRoot: ${JSON.stringify(devRoot)}, idsPaths: [] }); console.log(JSON.stringify(l.map((d) => [d.port, d.access])));`;
      const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '--input-type=module', '-e', script], {
        encoding: 'utf8',
        cwd: work,
      });
      expect(r.stderr).toBe('');
      const access = Object.fromEntries(JSON.parse(r.stdout) as [string, UsbDevice['access']][]);
      expect(access['2-1']).toEqual({ usable: true });
      expect(access['1-1.2']).toMatchObject({
        usable: false,
        reason: expect.stringMatching(/001\/005 is root:root 0600, so you \(user 65534\)/),
      });
    },
  );
});

describe('the usb.ids / pci.ids lookup', () => {
  it('finds a vendor on the first line and a device on the last line without a newline', () => {
    const db = '046d  Logitech, Inc.\n\tc52b  Unifying Receiver\n0781  SanDisk Corp.\n\t5583  Ultra Fit';
    expect(findHwNames(db, '046d', 'c52b')).toEqual({ vendorName: 'Logitech, Inc.', deviceName: 'Unifying Receiver' });
    expect(findHwNames(db, '0781', '5583')).toEqual({ vendorName: 'SanDisk Corp.', deviceName: 'Ultra Fit' });
    expect(findHwNames(db, '0781', '0001')).toEqual({ vendorName: 'SanDisk Corp.' });
    // a device id of another vendor's block is not this vendor's
    expect(findHwNames(db, '046d', '5583')).toEqual({ vendorName: 'Logitech, Inc.' });
    expect(findHwNames(db, 'c52b', '0000')).toEqual({});
  });

  it('reads the database once, on the first lookup, and never rejects', async () => {
    const reads: string[] = [];
    const lookup = createHwIdsLookup(['/a', '/b'], async (p) => {
      reads.push(p);
      if (p === '/a') throw Object.assign(new Error('no'), { code: 'ENOENT' });
      return '046d  Logitech, Inc.\n';
    });
    expect(reads).toEqual([]);
    expect(await lookup.lookup('046D', 'C52B')).toEqual({ vendorName: 'Logitech, Inc.' });
    expect(await lookup.lookup('0781', '5583')).toEqual({});
    expect(reads).toEqual(['/a', '/b']);
    expect(await createHwIdsLookup([]).lookup('046d', 'c52b')).toEqual({});
  });
});

describe('canOpenReadWrite', () => {
  it('follows the kernel: root always, the owner by owner bits, a member by group bits, others by other bits', () => {
    const st = (mode: number) => ({ mode: 0o20000 | mode, uid: 10, gid: 20 });
    expect(canOpenReadWrite(st(0o000), 0, [])).toBe(true);
    expect(canOpenReadWrite(st(0o600), 10, [])).toBe(true);
    expect(canOpenReadWrite(st(0o466), 10, [20])).toBe(false);
    expect(canOpenReadWrite(st(0o060), 11, [5, 20])).toBe(true);
    expect(canOpenReadWrite(st(0o640), 11, [20])).toBe(false);
    expect(canOpenReadWrite(st(0o606), 11, [20])).toBe(false);
    expect(canOpenReadWrite(st(0o666), 11, [21])).toBe(true);
    expect(canOpenReadWrite(st(0o664), 11, [21])).toBe(false);
  });
});

describe('the doctor for a USB device the user cannot open', () => {
  it('writes a udev rule for this vendor:product only, and says how to apply it', () => {
    expect(usbRuleFile('046d', 'c52b')).toBe('/etc/udev/rules.d/70-vmdesk-usb-046d-c52b.rules');
    expect(usbRuleLine('046d', 'c52b')).toBe(
      'SUBSYSTEM=="usb", ATTR{idVendor}=="046d", ATTR{idProduct}=="c52b", MODE="0660", TAG+="uaccess"',
    );
    expect(usbRuleApply('046d', 'c52b')).toBe(
      'udevadm control --reload && udevadm trigger --attr-match=idVendor=046d --attr-match=idProduct=c52b',
    );
    const fix = usbAccessFix({ vendorId: '046d', productId: 'c52b', name: 'Logitech USB Receiver' });
    expect(fix.action).toEqual({ kind: 'usb-rule', vendorId: '046d', productId: 'c52b' });
    expect(fix.privileged).toBe(true);
    expect(fix.command).toBe(
      `printf '%s\\n' 'SUBSYSTEM=="usb", ATTR{idVendor}=="046d", ATTR{idProduct}=="c52b", MODE="0660", TAG+="uaccess"' | sudo tee /etc/udev/rules.d/70-vmdesk-usb-046d-c52b.rules >/dev/null && sudo udevadm control --reload && sudo udevadm trigger --attr-match=idVendor=046d --attr-match=idProduct=c52b`,
    );
    expect(fix.text.split('\n').slice(0, 3)).toEqual([
      'create /etc/udev/rules.d/70-vmdesk-usb-046d-c52b.rules containing',
      '    SUBSYSTEM=="usb", ATTR{idVendor}=="046d", ATTR{idProduct}=="c52b", MODE="0660", TAG+="uaccess"',
      'and apply it: sudo udevadm control --reload && sudo udevadm trigger --attr-match=idVendor=046d --attr-match=idProduct=c52b',
    ]);
  });

  it('writes the command a user pastes into a shell that puts the rule into the file, byte for byte', () => {
    const fix = usbAccessFix({ vendorId: '0781', productId: '5583', name: 'SanDisk Ultra Fit' });
    const dir = tempDir();
    const printed = fix.command!.split(' | sudo tee')[0]!;
    const r = spawnSync('sh', ['-c', `${printed} > ${dir}/rule`]);
    expect(r.status).toBe(0);
    expect(execFileSync('cat', [`${dir}/rule`], { encoding: 'utf8' })).toBe(`${usbRuleLine('0781', '5583')}\n`);
  });

  it('refuses ids that are not four hex digits, before they reach a file under /etc or a shell', () => {
    for (const [v, p] of [
      ['046D', 'c52b'],
      ['46d', 'c52b'],
      ["046d'", 'c52b'],
      ['046d', 'c52b" RUN+="/bin/sh'],
    ] as const) {
      expect(() => usbRuleLine(v, p)).toThrow(VmdeskError);
      expect(() => usbRuleFile(v, p)).toThrow(/is not a USB vendor:product pair.*like 046d:c52b/);
    }
  });

  it('passes a device the user can open, proposes the rule for one they cannot, and no rule for a missing node', async () => {
    const devRoot = devTree([
      [1, 5, 0o600],
      [2, 2, 0o666],
    ]);
    const { uid, gid } = statSync(path.join(devRoot, 'bus/usb/001/005'));
    const list = await listUsbDevices({ sysRoot, devRoot, idsPaths: [IDS], uid: uid + 1, gids: [gid + 1] });
    expect(checkUsbAccess(byPort(list, '2-1'))).toMatchObject({ status: 'pass', device: '2-1' });
    const denied = checkUsbAccess(byPort(list, '1-1.2'));
    expect(denied).toMatchObject({
      id: 'usb-access',
      status: 'fail',
      title: 'USB device 046d:c52b (Logitech USB Receiver) at 1-1.2',
      fix: { privileged: true, action: { kind: 'usb-rule', vendorId: '046d', productId: 'c52b' } },
    });
    expect(denied.detail).toMatch(
      /0600, so user \d+ cannot open it read-write.*A udev rule for this device opens it to you\.$/,
    );
    const missing = checkUsbAccess(byPort(list, '1-3'));
    expect(missing.status).toBe('fail');
    expect(missing.fix?.action).toBeUndefined();
    expect(missing.fix?.privileged).toBe(false);
  });
});
