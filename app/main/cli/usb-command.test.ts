// `vmdesk usb` on the sysfs fixture of host/fixtures/usb: the table, the reasons and fixes, the
// attach and detach sentences, and `usb fix` through the helper with a recording runner in place
// of pkexec (no test may prompt for a password).
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallName, CallParams, CallResults } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import type { VmSummary } from '../common/vm-types.js';
import { listUsbDevices, usbReport } from '../host/usb.js';
import type { PrivilegedDeps } from '../mdev/privileged.js';
import { managerOptionsFromEnv } from '../vm/vm-manager.js';
import { formatUsbList, runUsb } from './usb-command.js';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), '../host/fixtures/usb');
const IDS = path.join(FIXTURE, 'usb.ids');

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** <root>/dev/bus/usb/BBB/DDD for these (bus, address, mode); returns <root>. */
function devTree(nodes: [number, number, number][]): string {
  const root = mkdtempSync(path.join(tmpdir(), 'vmdesk-usbcli-'));
  dirs.push(root);
  for (const [bus, addr, mode] of nodes) {
    const dir = path.join(root, 'dev', 'bus', 'usb', String(bus).padStart(3, '0'));
    mkdirSync(dir, { recursive: true });
    const node = path.join(dir, String(addr).padStart(3, '0'));
    writeFileSync(node, '');
    chmodSync(node, mode);
  }
  return root;
}

async function run(
  args: string[],
  answer: Partial<{ [C in CallName]: (p: CallParams<C>) => CallResults[C] }>,
  privileged?: PrivilegedDeps,
) {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  out.on('data', (d: Buffer) => (o += d.toString()));
  err.resume();
  const calls: unknown[] = [];
  const code = await runUsb(
    args,
    { out, err },
    {
      call: async (name, params) => {
        calls.push([name, params]);
        const f = answer[name] as ((p: typeof params) => CallResults[typeof name]) | undefined;
        if (!f) throw new Error(`unexpected call ${name}`);
        return f(params);
      },
      ...(privileged ? { privileged } : {}),
    },
  );
  return { code, out: o, calls };
}

describe('vmdesk usb list', () => {
  it("prints the table, and for a device the user may not open, why and the udev rule's fix", async () => {
    // As user 1000: 1-1.2's node is root's 0664 (not writable for others), 1-1.10 is missing,
    // the others are 0666.
    const root = devTree([
      [1, 5, 0o664],
      [1, 4, 0o666],
      [1, 3, 0o666],
      [2, 2, 0o666],
    ]);
    const devices = await listUsbDevices({
      sysRoot: path.join(FIXTURE, 'sys'),
      devRoot: path.join(root, 'dev'),
      idsPaths: [IDS],
      uid: 1000,
      gids: [1000],
    });
    const text = formatUsbList(usbReport(devices));
    expect(text.split('\n').slice(0, 6)).toEqual([
      'PORT    ID         NAME                                                          SPEED       CLASS            USABLE',
      '1-1.2   046d:c52b  Logitech USB Receiver                                         12 Mbit/s   hid              no',
      '1-1.10  0bda:8153  Realtek Semiconductor Corp. RTL8153 Gigabit Ethernet Adapter  480 Mbit/s  vendor-specific  no',
      '1-3     1234:abcd  USB device 1234:abcd                                          1.5 Mbit/s  vendor-specific  yes',
      '1-4     06cb:00bd  Synaptics, Inc. Fingerprint Reader                            12 Mbit/s   vendor-specific  yes',
      '2-1     0781:5583  SanDisk Ultra Fit                                             5 Gbit/s    mass-storage     yes',
    ]);
    const notes = text.split('\n').slice(6).join('\n');
    expect(notes).toContain(
      `\n1-1.2 (046d:c52b): ${path.join(root, 'dev/bus/usb/001/005')} is root:root 0664, so user 1000 cannot open it read-write`,
    );
    expect(notes).toContain(
      '  fix: printf \'%s\\n\' \'SUBSYSTEM=="usb", ATTR{idVendor}=="046d", ATTR{idProduct}=="c52b", MODE="0660", TAG+="uaccess"\' | sudo tee /etc/udev/rules.d/70-vmdesk-usb-046d-c52b.rules',
    );
    expect(notes).toContain('  or, with one password prompt: vmdesk usb fix 046d:c52b\n');
    // A missing node is not a permissions problem: no udev rule is offered for it.
    expect(notes).toMatch(/\n1-1\.10 \(0bda:8153\): .*does not exist.*\n {2}fix: Plug the device in again/);
    expect(notes).not.toContain('vmdesk usb fix 0bda:8153');
  });

  it('reads the devices where VMDESK_SYSFS_ROOT and VMDESK_DEV_ROOT say, and prints them as JSON', async () => {
    const root = devTree([[1, 5, 0o666]]);
    const { usbDevices } = managerOptionsFromEnv({
      VMDESK_SYSFS_ROOT: FIXTURE,
      VMDESK_DEV_ROOT: root,
      VMDESK_USB_IDS: IDS,
    });
    const r = await run(['list', '--json'], { 'host.usbDevices': () => ({ devices: [], checks: [] }) });
    expect(JSON.parse(r.out)).toEqual({ devices: [], checks: [] });
    const devices = await usbDevices!();
    expect(devices.map((d) => d.port)).toEqual(['1-1.2', '1-1.10', '1-3', '1-4', '2-1']);
    expect(devices[0]).toMatchObject({ node: path.join(root, 'dev/bus/usb/001/005'), access: { usable: true } });
    expect(devices[1]!.name).toBe('Realtek Semiconductor Corp. RTL8153 Gigabit Ethernet Adapter');
    // Relative values are ignored: the real host.
    expect(managerOptionsFromEnv({ VMDESK_SYSFS_ROOT: 'sys' }).usbDevices).toBeUndefined();
  });

  it('says so when there is no device at all', async () => {
    const r = await run(['list'], { 'host.usbDevices': () => ({ devices: [], checks: [] }) });
    expect(r.out).toBe('This host has no USB devices a VM could take (hubs are not listed).\n');
  });
});

describe('vmdesk usb attach / detach', () => {
  const vm = (usb?: VmSummary['usb']): VmSummary => ({
    id: 'x',
    name: 'web',
    state: usb ? 'running' : 'stopped',
    file: '/f',
    ...(usb ? { usb } : {}),
  });

  it('sends the call and says what happened', async () => {
    const attached = vm([{ id: 'usb2', device: '046d:c52b', name: 'Logitech USB Receiver', attached: true }]);
    const r = await run(['attach', 'web', '046D:C52B', '--persist'], { 'vm.usbAttach': () => attached });
    expect(r.calls).toEqual([['vm.usbAttach', { vm: 'web', device: '046D:C52B', persist: true }]]);
    expect(r.out).toBe('Attached 046d:c52b (Logitech USB Receiver) to "web" as usb2, and at every start.\n');
    const off = await run(['attach', 'web', '1-1.2', '--persist'], { 'vm.usbAttach': () => vm() });
    expect(off.out).toBe('"web" plugs in 1-1.2 at its next start.\n');
    const gone = await run(['detach', 'web', 'usb2'], { 'vm.usbDetach': () => vm([]) });
    expect(gone.calls).toEqual([['vm.usbDetach', { vm: 'web', device: 'usb2' }]]);
    expect(gone.out).toBe('Detached usb2 from "web".\n');
  });

  it('refuses a missing device argument with the usage', async () => {
    const err = await run(['attach', 'web'], {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmdeskError);
    expect((err as VmdeskError).message).toMatch(/^`vmdesk usb attach` takes a VM and a device\.\nUsage:/);
  });
});

describe('vmdesk usb fix', () => {
  const helper = '/usr/libexec/vmdesk/vmdesk-mdev-helper';

  it('runs the helper once through pkexec with the usb-rule action', async () => {
    const argvs: (readonly string[])[] = [];
    const deps: PrivilegedDeps = {
      helper,
      pkexec: '/usr/bin/pkexec',
      run: async (argv) => (argvs.push(argv), { code: 0, stdout: 'wrote ...\n', stderr: '' }),
    };
    const r = await run(['fix', '046D:c52b'], {}, deps);
    expect(argvs).toEqual([['/usr/bin/pkexec', helper, 'apply-fix', 'usb-rule,046d,c52b']]);
    expect(r.out).toBe(
      'Installed /etc/udev/rules.d/70-vmdesk-usb-046d-c52b.rules: 046d:c52b devices are yours while you are logged in at this computer. A VM that tried one already: detach it and attach it again.\n',
    );
  });

  it('without pkexec, gives the command to run; a dismissed prompt changes nothing', async () => {
    const never = async () => {
      throw new Error('must not run');
    };
    const manual = await run(['fix', '046d:c52b'], {}, { helper, pkexec: undefined, run: never }).catch(
      (e: unknown) => e,
    );
    expect((manual as VmdeskError).message).toBe(
      `pkexec is not installed, so vmdesk cannot ask for the password to install the udev rule for 046d:c52b. Run this yourself:\n  sudo ${helper} apply-fix usb-rule,046d,c52b`,
    );
    const dismissed = await run(
      ['fix', '046d:c52b'],
      {},
      {
        helper,
        pkexec: '/usr/bin/pkexec',
        run: async () => ({ code: 126, stdout: '', stderr: '' }),
      },
    ).catch((e: unknown) => e);
    expect(dismissed).toMatchObject({
      code: 'cancelled',
      message: 'The password prompt was dismissed; nothing was changed.',
    });
    const bad = await run(['fix', '1-1.2'], {}).catch((e: unknown) => e);
    expect((bad as VmdeskError).message).toMatch(/^`vmdesk usb fix` takes one VENDOR:PRODUCT/);
  });
});
