import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CommandResult } from '../host/host-io.js';
import { VmdeskError } from '../common/errors.js';
import {
  actionProblem,
  applyFixArgs,
  findPkexec,
  helperArgs,
  HELPER_ENV,
  helperTrustProblem,
  locateHelper,
  PACKAGED_HELPER,
  privilegedEnv,
  runPrivileged,
  shellQuote,
  type PrivilegedRunner,
} from './privileged.js';

const UUID = '83b8f4f2-509f-382f-3c1e-e6bfe0fa1001';
const HELPER = '/opt/vmdesk/resources/mdev-helper/vmdesk-mdev-helper';

function runner(result: Partial<CommandResult>): PrivilegedRunner & { calls: string[][] } {
  const calls: string[][] = [];
  const run: PrivilegedRunner = async (argv) => {
    calls.push([...argv]);
    return { code: 0, stdout: '', stderr: '', ...result };
  };
  return Object.assign(run, { calls });
}

describe('helper argv', () => {
  it('builds exactly pkexec /path/to/helper create --parent P --type T --uuid U [--persistent]', async () => {
    const run = runner({ stdout: `created ${UUID}\n` });
    const args = helperArgs({
      kind: 'create',
      parent: '0000:00:02.0',
      type: 'i915-GVTg_V5_4',
      uuid: UUID.toUpperCase(),
      persistent: true,
    });
    const r = await runPrivileged({ helper: HELPER, pkexec: '/usr/bin/pkexec', run }, args);
    expect(run.calls).toEqual([
      [
        '/usr/bin/pkexec',
        HELPER,
        'create',
        '--parent',
        '0000:00:02.0',
        '--type',
        'i915-GVTg_V5_4',
        '--uuid',
        UUID,
        '--persistent',
      ],
    ]);
    expect(r).toEqual({
      status: 'done',
      command: `/usr/bin/pkexec ${HELPER} create --parent 0000:00:02.0 --type i915-GVTg_V5_4 --uuid ${UUID} --persistent`,
      output: `created ${UUID}\n`,
    });
    expect(helperArgs({ kind: 'remove', uuid: UUID })).toEqual(['remove', '--uuid', UUID]);
  });

  it('refuses hostile values before any prompt', () => {
    const bad = [
      () => helperArgs({ kind: 'create', parent: 'mtty', type: '../../../../etc', uuid: UUID }),
      () => helperArgs({ kind: 'create', parent: '..', type: 'mtty-1', uuid: UUID }),
      () => helperArgs({ kind: 'create', parent: 'mtty', type: 'mtty-1', uuid: `${UUID};reboot` }),
      () => helperArgs({ kind: 'remove', uuid: '$(id)' }),
      () => applyFixArgs([{ kind: 'memlock', user: '@wheel', kib: 1 }]),
      () => applyFixArgs([{ kind: 'memlock', user: 'ada', kib: 1.5 }]),
      () => applyFixArgs([]),
      () => applyFixArgs([{ kind: 'usb-rule', vendorId: '046D', productId: 'c52b' }]),
      () => applyFixArgs([{ kind: 'usb-rule', vendorId: '046d', productId: 'c52b,modules' }]),
    ];
    for (const f of bad) expect(f).toThrow(VmdeskError);
    expect(actionProblem({ kind: 'create', parent: 'mtty', type: '../x', uuid: UUID })).toMatch(
      /not a valid mdev type name/,
    );
    expect(actionProblem({ kind: 'udev-rule' })).toBeUndefined();
  });

  it('orders apply-fix actions (modules, udev rule, devices, memlock) and drops duplicates', () => {
    expect(
      applyFixArgs([
        { kind: 'memlock', user: 'ada', kib: 1024 },
        { kind: 'udev-rule' },
        { kind: 'remove', uuid: UUID, persistent: true },
        { kind: 'udev-rule' },
      ]),
    ).toEqual(['apply-fix', 'udev-rule', `remove,${UUID},persistent`, 'memlock,ada,1024']);
    expect(
      applyFixArgs([
        { kind: 'create', parent: 'mtty', type: 'mtty-1', uuid: UUID },
        { kind: 'usb-rule', vendorId: '046d', productId: 'c52b' },
        { kind: 'udev-rule' },
      ]),
    ).toEqual(['apply-fix', 'udev-rule', 'usb-rule,046d,c52b', `create,mtty,mtty-1,${UUID}`]);
  });
});

describe('runPrivileged outcomes', () => {
  const args = ['remove', '--uuid', UUID];

  it('without pkexec, gives the exact command to copy (with sudo) and runs nothing', async () => {
    const run = runner({});
    const r = await runPrivileged({ helper: '/home/ada/my vmdesk/vmdesk-mdev-helper', pkexec: undefined, run }, args);
    expect(r).toEqual({
      status: 'manual',
      command: `sudo '/home/ada/my vmdesk/vmdesk-mdev-helper' remove --uuid ${UUID}`,
    });
    expect(run.calls).toEqual([]);
  });

  it('maps pkexec 126 to cancelled and 127 to a failure that offers the manual command', async () => {
    expect(
      await runPrivileged({ helper: HELPER, pkexec: '/usr/bin/pkexec', run: runner({ code: 126 }) }, args),
    ).toMatchObject({ status: 'cancelled' });
    const r = await runPrivileged(
      {
        helper: HELPER,
        pkexec: '/usr/bin/pkexec',
        run: runner({ code: 127, stderr: 'Error executing command as another user: No authentication agent found.\n' }),
      },
      args,
    );
    expect(r.status).toBe('failed');
    expect(r.status === 'failed' && r.message).toContain(
      `No authentication agent found.). Run it yourself instead: sudo ${HELPER} remove`,
    );
  });

  it("passes on the helper's own words when it refuses", async () => {
    const r = await runPrivileged(
      {
        helper: HELPER,
        pkexec: '/usr/bin/pkexec',
        run: runner({ code: 3, stderr: 'vmdesk-mdev-helper: no instances of mtty-1 are left on mtty\n' }),
      },
      args,
    );
    expect(r).toMatchObject({ status: 'failed', message: 'no instances of mtty-1 are left on mtty' });
  });

  it('is an internal error when the helper is missing from the installation', async () => {
    await expect(
      runPrivileged({ helper: undefined, pkexec: '/usr/bin/pkexec', run: runner({}) }, args),
    ).rejects.toThrow(/helper vmdesk-mdev-helper is missing/);
  });
});

describe('finding the helper and pkexec', () => {
  it('finds resources/mdev-helper by walking up from the program directory its entry point gives', () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    expect(locateHelper(here, {})).toBe(path.resolve(here, '../../../resources/mdev-helper/vmdesk-mdev-helper'));
    expect(locateHelper('/opt/vmdesk/dist/cli', {}, (p) => p === HELPER)).toBe(HELPER);
    // Without a program directory (an entry that does not know it), only the fixed places.
    expect(locateHelper(undefined, {}, () => false)).toBeUndefined();
  });

  it('resolves symbolic links, so the trust check sees the directories that hold the file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-helper-link-'));
    try {
      const real = path.join(dir, 'real-helper');
      fs.writeFileSync(real, '#!/bin/sh\n', { mode: 0o755 });
      const link = path.join(dir, 'link');
      fs.symlinkSync(real, link);
      expect(locateHelper(undefined, { [HELPER_ENV]: link })).toBe(fs.realpathSync(real));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prefers $VMDESK_MDEV_HELPER, then the packaged copy', () => {
    expect(locateHelper('/opt/vmdesk/dist/cli', { [HELPER_ENV]: '/srv/helper' }, (p) => p === '/srv/helper')).toBe(
      '/srv/helper',
    );
    expect(locateHelper('/opt/vmdesk/dist/cli', { [HELPER_ENV]: '/srv/helper' }, () => false)).toBeUndefined();
    expect(locateHelper('/opt/vmdesk/dist/cli', {}, (p) => p === PACKAGED_HELPER)).toBe(PACKAGED_HELPER);
    expect(findPkexec((p) => p === '/bin/pkexec')).toBe('/bin/pkexec');
    expect(findPkexec(() => false)).toBeUndefined();
  });

  it('quotes for a POSIX shell', () => {
    expect(shellQuote('0000:00:02.0')).toBe('0000:00:02.0');
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});

describe('what runs as root', () => {
  const tree = (over: Record<string, { uid: number; mode: number }>) => (p: string) => {
    const e = over[p] ?? { uid: 0, mode: 0o40755 };
    return { ...e, isFile: () => (e.mode & 0o170000) === 0o100000 };
  };
  const file = { uid: 0, mode: 0o100755 };

  it('trusts a root-owned helper in root-owned directories, sticky /tmp included', () => {
    expect(helperTrustProblem(HELPER, tree({ [HELPER]: file }))).toBeUndefined();
    expect(
      helperTrustProblem(
        '/tmp/ci/resources/h',
        tree({ '/tmp/ci/resources/h': file, '/tmp': { uid: 0, mode: 0o41777 } }),
      ),
    ).toBeUndefined();
  });

  it('refuses a helper the user (or anyone but root) could swap, saying how to install it', () => {
    const mine = helperTrustProblem(HELPER, tree({ [HELPER]: { uid: 1000, mode: 0o100755 } }));
    expect(mine).toBe(
      `vmdesk will not run ${HELPER} as root: it is not a root-owned file that only root can change. Install the helper where root owns it: sudo install -D -o root -g root -m 0755 ${HELPER} ${PACKAGED_HELPER}`,
    );
    expect(helperTrustProblem(HELPER, tree({ [HELPER]: { uid: 0, mode: 0o100775 } }))).toMatch(/not a root-owned file/);
    expect(helperTrustProblem(HELPER, tree({ [HELPER]: file, '/opt/vmdesk': { uid: 1000, mode: 0o40755 } }))).toMatch(
      /\/opt\/vmdesk can be changed by users other than root/,
    );
    expect(helperTrustProblem(HELPER, tree({ [HELPER]: file, '/opt': { uid: 0, mode: 0o40777 } }))).toMatch(
      /\/opt can be changed/,
    );
  });

  it('does not run pkexec with an untrusted helper (the pasteable command stays available without pkexec)', async () => {
    const run = runner({});
    const trust = () => 'not trusted';
    await expect(
      runPrivileged({ helper: HELPER, pkexec: '/usr/bin/pkexec', run, trust }, ['apply-fix', 'udev-rule']),
    ).rejects.toThrow('not trusted');
    expect(run.calls).toEqual([]);
    expect(await runPrivileged({ helper: HELPER, pkexec: undefined, run, trust }, ['apply-fix', 'udev-rule'])).toEqual({
      status: 'manual',
      command: `sudo ${HELPER} apply-fix udev-rule`,
    });
  });

  it("passes none of vmdesk's variables to pkexec", () => {
    expect(
      privilegedEnv({
        PATH: '/home/ada/bin:/usr/bin',
        LANG: 'de_DE.UTF-8',
        VMDESK_MDEV_HELPER_ROOT: '/tmp/x',
        VMDESK_SYSFS_ROOT: '/tmp/x',
        LD_PRELOAD: '/tmp/evil.so',
        TERM: 'xterm',
      }),
    ).toEqual({ PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'de_DE.UTF-8', TERM: 'xterm' });
  });
});
