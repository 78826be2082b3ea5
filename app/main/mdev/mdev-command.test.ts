/** `vmdesk mdev ...` (app/main/cli/mdev-command.ts) against fixture hosts, with the real helper
 * script standing in for pkexec + root and a few lines standing in for the kernel. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { MdevCliDeps } from '../cli/mdev-command.js';
import { runMdevCli } from '../testing/run-mdev-cli.js';
import { VmdeskError } from '../common/errors.js';
import type { VmDefinition, VmSummary } from '../common/vm-types.js';
import { fakeRun, FakeNative } from '../host/testing/fakes.js';
import { fakeQemuCaps } from '../host/testing/caps.js';
import { buildSysfs, installUdevMatcher, type BuiltSysfs, type SysfsFixture } from './fixtures/build-sysfs.js';
import { fakePkexecRunner } from './fixtures/fake-kernel.js';
import { GVT_UUID, gvtgHost, MTTY_UUID, samplesHost } from './fixtures/hosts.js';
import type { PrivilegedRunner } from './privileged.js';
import { UDEV_MATCHER } from './fixes.js';
import { PLAIN_GUEST } from '../common/vm-types.js';

const HELPER = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../resources/mdev-helper/vmdesk-mdev-helper',
);
const NEW = '0d2c4e6f-8a1b-4c3d-9e5f-a7b9c1d3e5f7';

let built: BuiltSysfs[] = [];
afterEach(() => {
  for (const b of built) b.cleanup();
  built = [];
});

const def = (
  name: string,
  mdevs: VmDefinition['mdevs'],
  id = '0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b',
): VmDefinition => ({
  version: 3,
  ...PLAIN_GUEST,
  id,
  name,
  arch: 'x86_64',
  memoryMiB: 2048,
  cpus: 2,
  accel: 'kvm',
  firmware: 'uefi',
  disks: [],
  cdroms: [],
  boot: ['disk'],
  network: { mode: 'user', forwards: [] },
  display: 'std',
  nvram: null,
  mdevs,
  createdAt: '2026-11-22T00:00:00.000Z',
});
const summary = (d: VmDefinition, state: VmSummary['state'] = 'stopped'): VmSummary => ({
  id: d.id,
  name: d.name,
  state,
  definition: d,
  file: `/cfg/${d.id}.json`,
});

interface Cli {
  b: BuiltSysfs;
  calls: string[][];
  run(...args: string[]): Promise<{ code: number; out: string; err: string }>;
}

function cli(fixture: SysfsFixture, vms: VmSummary[] = [], extra: Partial<MdevCliDeps> = {}): Cli {
  const b = buildSysfs(fixture);
  built.push(b);
  const calls: string[][] = [];
  const deps: MdevCliDeps = {
    env: { VMDESK_SYSFS_ROOT: b.root, VMDESK_DEV_ROOT: b.root },
    native: Object.assign(new FakeNative(), { memlock: { ok: true, value: { soft: 'unlimited', hard: 'unlimited' } } }),
    listVms: async () => vms,
    getVm: async (ref) => {
      const vm = vms.find((v) => v.name === ref || v.id === ref);
      if (!vm) throw new VmdeskError('not-found', `No VM named or with id "${ref}".`);
      return vm;
    },
    qemuCaps: async () => fakeQemuCaps(),
    fs: b.fs,
    run: fakeRun({}),
    user: 'ada',
    kernelRelease: '6.1.0-18-amd64',
    cpuVendor: 'intel',
    groups: { nameOf: async () => undefined, gidOf: async (n) => (n === 'kvm' ? 36 : undefined) },
    pciIdsPaths: [b.pciIdsPath],
    newUuid: () => NEW,
    privileged: { helper: HELPER, pkexec: '/usr/bin/pkexec', run: fakePkexecRunner(b.root, calls) },
    ...extra,
  };
  return {
    b,
    calls,
    run: (...args) => runMdevCli(deps, args),
  };
}

describe('vmdesk mdev list / types', () => {
  it('lists parents and devices in aligned columns, with the VM that uses each', async () => {
    const c = cli(gvtgHost, [
      summary(def('win10', [{ uuid: GVT_UUID, type: 'i915-GVTg_V5_4', parent: '0000:00:02.0', display: true }])),
    ]);
    const r = await c.run('list');
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        'PARENT        DRIVER  DEVICE                                           TYPES  DEVICES',
        '0000:00:02.0  i915    CoffeeLake-S GT2 [UHD Graphics 630] (8086:3e92)  4      1',
        '',
        'UUID                                  TYPE            PARENT        IOMMU GROUP  USED BY',
        `${GVT_UUID}  i915-GVTg_V5_4  0000:00:02.0  16           win10`,
        '',
      ].join('\n'),
    );
  });

  it('prints JSON with the verbatim descriptions', async () => {
    const r = await cli(gvtgHost).run('types', '0000:00:02.0', '--json');
    const parents = JSON.parse(r.out) as { types: { id: string; description: string }[] }[];
    expect(parents[0]!.types[3]).toMatchObject({
      id: 'i915-GVTg_V5_8',
      description: 'low_gm_size: 64MB\nhigh_gm_size: 384MB\nfence: 4\nresolution: 1024x768\nweight: 2',
    });
  });

  it('shows types with availability, display kind and details', async () => {
    const r = await cli(samplesHost).run('types', 'mdpy');
    expect(r.out).toContain('mdpy (mdpy: kernel sample driver)');
    expect(r.out).toMatch(/mdpy-hd\s+mdpy-hd\s+4\s+region\s+1920x1080/);
    expect((await cli(samplesHost).run('types', 'nope')).code).toBe(1);
  });
});

describe('vmdesk mdev create / remove', () => {
  it('creates through pkexec with the exact helper argv, then shows the new device', async () => {
    const c = cli(samplesHost);
    const r = await c.run('create', '--parent', 'mtty', '--type', 'mtty-1');
    expect(r).toMatchObject({ code: 0, out: `Created ${NEW} (mtty-1 on mtty, IOMMU group 42).\n`, err: '' });
    expect(c.calls).toEqual([
      ['/usr/bin/pkexec', HELPER, 'create', '--parent', 'mtty', '--type', 'mtty-1', '--uuid', NEW],
    ]);
  });

  it('refuses with a reason before any prompt: existing UUID, no instances, unknown type, a parent that is gone', async () => {
    const c = cli(samplesHost);
    fs.writeFileSync(
      c.b.at('sys/devices/virtual/mbochs/mbochs/mdev_supported_types/mbochs-3/available_instances'),
      '0\n',
    );
    fs.rmSync(c.b.at('sys/class/mdev_bus/mdpy'));
    const cases: [string[], RegExp][] = [
      [['--parent', 'mtty', '--type', 'mtty-2', '--uuid', MTTY_UUID], /already exists/],
      [['--parent', 'mbochs', '--type', 'mbochs-3'], /No mbochs-3 instances are left/],
      [['--parent', 'mtty', '--type', 'mtty-7'], /mtty has no type mtty-7; it offers mtty-1, mtty-2/],
      [['--parent', 'mdpy', '--type', 'mdpy-hd'], /No mdev parent named mdpy/],
      [['--parent', 'mtty', '--type', '../../etc', '--uuid', NEW], /has no type/],
      [['--parent', 'mtty', '--type', 'mtty-1', '--uuid', 'not-a-uuid'], /is not a UUID/],
    ];
    for (const [args, message] of cases) {
      const r = await c.run('create', ...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err).toMatch(message);
    }
    expect(c.calls).toEqual([]);
  });

  it('without pkexec, prints the command to copy and exits 1', async () => {
    const ran: string[][] = [];
    const run: PrivilegedRunner = async (argv) => (ran.push([...argv]), { code: 0, stdout: '', stderr: '' });
    const r = await cli(samplesHost, [], { privileged: { helper: HELPER, pkexec: undefined, run } }).run(
      'create',
      '--parent',
      'mtty',
      '--type',
      'mtty-1',
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain(`pkexec is not installed`);
    expect(r.err).toContain(`sudo ${HELPER} create --parent mtty --type mtty-1 --uuid ${NEW}`);
    expect(ran).toEqual([]);
  });

  it('removes a device, but not one a running VM uses', async () => {
    const running = summary(
      def('linux', [{ uuid: MTTY_UUID, type: 'mtty-2', parent: 'mtty', display: false }]),
      'running',
    );
    const busy = await cli(samplesHost, [running]).run('remove', MTTY_UUID);
    expect(busy).toMatchObject({ code: 1, err: expect.stringContaining('in use by "linux" (running)') });
    const c = cli(samplesHost);
    expect(await c.run('remove', MTTY_UUID.toUpperCase())).toMatchObject({ code: 0, out: `Removed ${MTTY_UUID}.\n` });
    // The helper wrote "1" to the device's remove file, and the (fake) kernel took the device away.
    expect(fs.existsSync(c.b.at(`sys/bus/mdev/devices/${MTTY_UUID}`))).toBe(false);
    expect((await c.run('list')).out).not.toContain(MTTY_UUID);
    expect((await c.run('remove', NEW)).err).toContain(`There is no mediated device ${NEW}`);
    expect((await c.run('remove', 'x; rm -rf /')).code).toBe(1);
  });
});

describe('vmdesk mdev check', () => {
  const vm = (uuid: string) => summary(def('serial-box', [{ uuid, type: 'mtty-2', parent: 'mtty', display: false }]));

  it('prints every verdict with its fix and exits 1 while something fails', async () => {
    const c = cli(samplesHost, [vm(NEW)]);
    c.b.deny('/dev/vfio/0', { write: 'EACCES', stat: { gid: 0, mode: 0o20600 } });
    const r = await c.run('check', 'serial-box');
    expect(r.code).toBe(1);
    expect(r.out).toContain('"serial-box": 1 problem to fix before it can start.');
    expect(r.out).toContain(`[FAIL] Device ${NEW} ready`);
    expect(r.out).toContain(`       Run: vmdesk mdev create --parent mtty --type mtty-2 --uuid ${NEW}`);
    expect(r.out).toContain('[warn] IOMMU enabled');
    expect(r.out).toContain('[ ok ] Locked-memory limit');
    expect(r.out).toContain('vmdesk mdev check "serial-box" --fix');
  });

  it('--fix applies every helper fix with one prompt, then checks again', async () => {
    const c = cli(samplesHost, [vm(NEW)]);
    c.b.deny('/dev/vfio/0', { write: 'EACCES', stat: { gid: 0, mode: 0o20600 } });
    installUdevMatcher(c.b, HELPER);
    const r = await c.run('check', 'serial-box', '--fix', '--json');
    expect(c.calls).toEqual([['/usr/bin/pkexec', HELPER, 'apply-fix', 'udev-rule', `create,mtty,mtty-2,${NEW}`]]);
    const report = JSON.parse(r.out) as { ready: boolean; checks: { id: string; status: string }[] };
    expect(report.checks.find((x) => x.id === 'device')!.status).toBe('pass');
    expect(report.ready).toBe(true);
    expect(r.code).toBe(0);
    expect(fs.existsSync(c.b.at('etc/udev/rules.d/99-vmdesk-vfio.rules'))).toBe(true);
  });

  it('--fix refuses to write a udev rule that runs a helper that is not installed, and does nothing', async () => {
    const c = cli(samplesHost, [vm(NEW)]);
    c.b.deny('/dev/vfio/0', { write: 'EACCES', stat: { gid: 0, mode: 0o20600 } });
    const r = await c.run('check', 'serial-box', '--fix');
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `the udev rule runs ${UDEV_MATCHER}, which is missing or can be changed by users other than root; install this helper there first: sudo install -D -o root -g root -m 0755 ${HELPER} ${UDEV_MATCHER}`,
    );
    expect(fs.existsSync(c.b.at('etc/udev/rules.d/99-vmdesk-vfio.rules'))).toBe(false);
    expect(fs.readdirSync(c.b.at('sys/bus/mdev/devices'))).toEqual([MTTY_UUID]);
  });

  it('a ready VM passes; an unknown VM is a user error in JSON too', async () => {
    const ok = await cli(samplesHost, [vm(MTTY_UUID)]).run('check', 'serial-box');
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('"serial-box": ready for its mediated devices (1 warning).');
    const missing = await cli(samplesHost).run('check', 'ghost', '--json');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.out)).toEqual({
      error: { code: 'not-found', message: 'No VM named or with id "ghost".' },
    });
  });

  it('rejects unknown commands and options with the usage', async () => {
    const c = cli(samplesHost);
    expect(await c.run('frob')).toMatchObject({ code: 1, err: expect.stringContaining('Usage:') });
    expect((await c.run('list', '--bogus')).code).toBe(1);
    expect((await c.run('list', 'extra')).code).toBe(1);
  });
});
