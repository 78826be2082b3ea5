/**
 * `vmdesk settings` against the real dispatcher and handlers in front of a real VmManager (temp
 * XDG dirs, a host without QEMU): what it prints, what it writes, what it refuses, and what the
 * settings change in the driver (the default accelerator of a new VM, the driver log's level).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CallName, CallParams, CallResults } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import { createDispatcher, managerHandlers } from '../ipc/dispatcher.js';
import { createMdevService } from '../mdev/service.js';
import { getNative } from '../../native/index.js';
import { fakeRun } from '../host/testing/fakes.js';
import { tempAppPaths } from '../paths/testing/temp-paths.js';
import { captureIo } from '../testing/capture-io.js';
import { settingsFile } from '../vm/app-settings.js';
import { setDriverLogLevel } from '../vm/driver-log.js';
import { NoQemuHost } from '../vm/testing/no-qemu-host.js';
import { VmManager } from '../vm/vm-manager.js';
import { runSettings } from './settings-command.js';

const roots: string[] = [];
// The driver reads these from its own environment: the tests set them only where they say so.
const ENV_NAMES = ['VMDESK_ACCEL', 'VMDESK_LOG_LEVEL', 'VMDESK_LOG_CAP_BYTES'];
const savedEnv = ENV_NAMES.map((n) => [n, process.env[n]] as const);
beforeAll(() => ENV_NAMES.forEach((n) => delete process.env[n]));
afterAll(() => {
  for (const [n, value] of savedEnv) if (value !== undefined) process.env[n] = value;
  setDriverLogLevel('debug');
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

let call: <C extends CallName>(method: C, params: CallParams<C>) => Promise<CallResults[C]>;
let m: VmManager;
let file: string;

beforeEach(async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vd-settings-cli-'));
  roots.push(root);
  const paths = tempAppPaths(root);
  file = settingsFile(paths);
  m = new VmManager(paths, new NoQemuHost());
  await m.init();
  const mdev = createMdevService({
    env: {},
    native: getNative(),
    run: fakeRun({}),
    listVms: async () => m.list(),
    getVm: async (ref) => m.get(ref),
    updateMdevs: (ref, change) => m.updateMdevs(ref, change),
    qemuCaps: async () => {
      throw new VmdeskError('no-qemu', 'No QEMU in this test.');
    },
    privileged: () => ({
      helper: '/nonexistent/vmdesk-mdev-helper',
      pkexec: undefined,
      run: async () => {
        throw new Error('must not run');
      },
    }),
  });
  const d = createDispatcher(
    managerHandlers(
      m,
      async () => {
        throw new VmdeskError('unsupported', 'No host report in this test.');
      },
      mdev,
    ),
    (line) => m.driverLog.write(line),
  );
  call = async (method, params) => {
    const r = await d.dispatch(method, params);
    if (!r.ok) throw VmdeskError.fromJSON(r.error);
    return r.result as never;
  };
});

const run = async (...args: string[]) => {
  const c = captureIo();
  const code = await runSettings(args, c.io, call);
  return { code, out: c.out(), err: c.err() };
};

describe('vmdesk settings', () => {
  it('lists every setting with its value and where it comes from', async () => {
    const r = await run();
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^SETTING\s+VALUE\s+FROM$/m);
    expect(r.out).toMatch(/^defaultFirmware\s+auto\s+default$/m);
    expect(r.out).toMatch(/^logCapBytes\s+8388608\s+default$/m);
    expect(r.out).toContain(`File: ${file}`);
  });

  it('sets a value in settings.json, prints one value for scripts, and the whole report as JSON', async () => {
    expect((await run('set', 'defaultFirmware', 'BIOS')).out).toBe('defaultFirmware = bios\n');
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ version: 1, defaultFirmware: 'bios' });
    expect((await run('get', 'defaultFirmware')).out).toBe('bios\n');
    expect((await run('defaultfirmware')).out).toBe('bios\n');
    const json = JSON.parse((await run('get', 'defaultFirmware', '--json')).out);
    expect(json).toEqual({ key: 'defaultFirmware', value: 'bios', source: 'file' });
    expect(JSON.parse((await run('--json')).out).sources.defaultFirmware).toBe('file');
  });

  it('reads sizes for the log cap and says when a change applies at the next start', async () => {
    const r = await run('set', 'logCapBytes', '2M');
    expect(r.out).toBe('logCapBytes = 2097152\n');
    expect(r.err).toMatch(/applies the next time vmdesk starts/);
    expect((await run('set', 'webPort', '8123')).err).toMatch(/next time `vmdesk web` starts/);
    expect((await run('set', 'webNewTokenEachStart', 'on')).out).toBe('webNewTokenEachStart = true\n');
  });

  it('says when an environment variable of the driver wins over what was just set', async () => {
    const before = process.env.VMDESK_ACCEL;
    process.env.VMDESK_ACCEL = 'tcg';
    try {
      const r = await run('set', 'defaultAccel', 'kvm');
      expect(r.out).toBe('defaultAccel = tcg\n');
      expect(r.err).toMatch(/^VMDESK_ACCEL is set in the environment of the vmdesk that manages your VMs and wins/);
      expect((await run()).out).toMatch(/^defaultAccel\s+tcg\s+VMDESK_ACCEL \(the file says kvm\)$/m);
    } finally {
      if (before === undefined) delete process.env.VMDESK_ACCEL;
      else process.env.VMDESK_ACCEL = before;
    }
  });

  it('goes back to the default with "default"', async () => {
    await run('set', 'webPort', '8123');
    expect((await run('set', 'webPort', 'default')).out).toBe('webPort = 0 (the default)\n');
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ version: 1 });
  });

  it('refuses an unknown key, a bad value and a wrong shape with a sentence, writing nothing', async () => {
    await expect(run('set', 'colour', 'blue')).rejects.toThrow(
      /There is no setting "colour". The settings are defaultAccel, /,
    );
    await expect(run('set', 'logLevel', 'loud')).rejects.toThrow(/The log level is error, warn, info or debug\./);
    await expect(run('set', 'webPort', '99999')).rejects.toThrow(/whole number from 1 to 65535, or 0/);
    await expect(run('set', 'webListen', 'my-laptop')).rejects.toThrow(/must be an IP address/);
    await expect(run('set', 'logLevel')).rejects.toThrow(/vmdesk settings set KEY VALUE/);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('the driver refuses an invalid value sent without the CLI (the contract validates)', async () => {
    await expect(call('settings.set', { values: { logLevel: 'loud' as never } })).rejects.toThrow(/logLevel/);
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe('what the settings change in the driver', () => {
  it('a new VM without an accelerator of its own gets the default accelerator', async () => {
    await run('set', 'defaultAccel', 'tcg');
    const vm = await call('vm.define', { name: 'plain', memoryMiB: 64, cpus: 1 });
    expect(vm.definition?.accel).toBe('tcg');
    const own = await call('vm.define', { name: 'own', memoryMiB: 64, cpus: 1, accel: 'auto' });
    expect(own.definition?.accel).toBe('auto');
  });

  it('the log level applies at once: at warn, the driver log takes no call lines', async () => {
    const log = () => (fs.existsSync(m.driverLog.file) ? fs.readFileSync(m.driverLog.file, 'utf8') : '');
    await call('vm.list', {});
    expect(log()).toMatch(/call vm\.list \{\}/);
    await run('set', 'logLevel', 'warn');
    await call('vm.orphans', {});
    expect(log()).not.toMatch(/call vm\.orphans/);
    await run('set', 'logLevel', 'debug');
    await call('vm.orphans', {});
    expect(log()).toMatch(/call vm\.orphans/);
  });
});
