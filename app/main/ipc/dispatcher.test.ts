import { describe, expect, it } from 'vitest';
import type { CallName, CallParams, SnapshotInfo } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import type { VmSummary } from '../common/vm-types.js';
import { DEFAULT_SETTINGS, SETTING_KEYS, type SettingsReport } from '../common/settings-types.js';
import { createDispatcher } from './dispatcher.js';
import type { Handlers } from './dispatcher.js';

function summary(name: string): VmSummary {
  return { id: '11111111-2222-4333-8444-555555555555', name, state: 'stopped', file: `/cfg/vms/${name}.json` };
}

const settingsReport = (): SettingsReport => ({
  file: '/cfg/settings.json',
  values: { ...DEFAULT_SETTINGS },
  sources: Object.fromEntries(SETTING_KEYS.map((k) => [k, 'default'])) as SettingsReport['sources'],
  env: {},
  fileValues: {},
  notes: [],
});

const snapshot = (name: string): SnapshotInfo => ({
  name,
  createdAt: '2026-12-03T00:00:00.000Z',
  state: 'running',
  withMemory: true,
  parent: null,
  current: true,
  thumbnail: false,
});

/** Handlers that record what they were called with and answer with a stopped VM. */
function fakeHandlers(over: Partial<Handlers> = {}) {
  const calls: { method: CallName; params: unknown }[] = [];
  const rec = <C extends CallName>(method: C, params: CallParams<C>) => calls.push({ method, params });
  const handlers: Handlers = {
    'vm.list': (p) => (rec('vm.list', p), [summary('web')]),
    'vm.get': (p) => (rec('vm.get', p), summary(p.vm)),
    'vm.define': (p) => (rec('vm.define', p), summary(p.name)),
    'vm.start': async (p) => (rec('vm.start', p), { ...summary(p.vm), state: 'running' }),
    'vm.shutdown': (p) => (rec('vm.shutdown', p), summary(p.vm)),
    'vm.stop': (p) => (rec('vm.stop', p), summary(p.vm)),
    'vm.reboot': (p) => (rec('vm.reboot', p), summary(p.vm)),
    'vm.pause': (p) => (rec('vm.pause', p), { ...summary(p.vm), state: 'paused' }),
    'vm.resume': (p) => (rec('vm.resume', p), summary(p.vm)),
    'vm.delete': (p) => (rec('vm.delete', p), { id: p.vm, removed: [], kept: [] }),
    'vm.logPaths': (p) => (rec('vm.logPaths', p), { qemu: '/q', serial: '/s', driver: '/d' }),
    'vm.orphans': (p) => (rec('vm.orphans', p), []),
    'vm.update': (p) => (rec('vm.update', p), summary(p.vm)),
    'host.connections': (p) => (rec('host.connections', p), []),
    'host.connect': (p) => (
      rec('host.connect', p),
      { id: 'lv-00000000', uri: p.uri, label: p.uri, kind: 'libvirt', state: 'connected', remembered: false }
    ),
    'host.disconnect': (p) => (rec('host.disconnect', p), []),
    'vm.thumbnail': (p) => (rec('vm.thumbnail', p), { png: null, takenAt: null }),
    'settings.get': (p) => (rec('settings.get', p), settingsReport()),
    'settings.set': (p) => (rec('settings.set', p), settingsReport()),
    'vm.exportXml': (p) => (rec('vm.exportXml', p), { xml: '<domain/>', notes: [] }),
    'vm.importXml': (p) => (rec('vm.importXml', p), { vm: summary(p.name ?? 'imported'), dropped: [] }),
    'host.usbDevices': (p) => (rec('host.usbDevices', p), { devices: [], checks: [] }),
    'host.usbFix': (p) => (rec('host.usbFix', p), { outcome: 'manual', command: 'pkexec …' }),
    'vm.usbAttach': (p) => (rec('vm.usbAttach', p), summary(p.vm)),
    'vm.usbDetach': (p) => (rec('vm.usbDetach', p), summary(p.vm)),
    'vm.insertCdrom': (p) => (rec('vm.insertCdrom', p), summary(p.vm)),
    'vm.addForward': (p) => (rec('vm.addForward', p), summary(p.vm)),
    'vm.removeForward': (p) => (rec('vm.removeForward', p), summary(p.vm)),
    'vm.addDisk': (p) => (rec('vm.addDisk', p), summary(p.vm)),
    'vm.removeDisk': (p) => (rec('vm.removeDisk', p), summary(p.vm)),
    'vm.resizeDisk': (p) => (rec('vm.resizeDisk', p), summary(p.vm)),
    'vm.convertDisk': (p) => (rec('vm.convertDisk', p), summary(p.vm)),
    'vm.clone': (p) => (rec('vm.clone', p), summary(p.name)),
    'job.cancel': (p) => (rec('job.cancel', p), { cancelled: false }),
    'snapshot.list': (p) => (rec('snapshot.list', p), []),
    'snapshot.create': (p) => (rec('snapshot.create', p), snapshot(p.name)),
    'snapshot.revert': (p) => (rec('snapshot.revert', p), summary(p.vm)),
    'snapshot.delete': (p) => (rec('snapshot.delete', p), []),
    'snapshot.update': (p) => (rec('snapshot.update', p), snapshot(p.newName ?? p.name)),
    'snapshot.thumbnail': (p) => (rec('snapshot.thumbnail', p), { png: null }),
    'iso.list': (p) => (rec('iso.list', p), []),
    'iso.remove': (p) => (rec('iso.remove', p), { path: p.path }),
    'host.info': (p) => {
      rec('host.info', p);
      throw new VmdeskError('unsupported', 'This fake has no host report.');
    },
    'iso.inspect': (p) => {
      rec('iso.inspect', p);
      throw new VmdeskError('unsupported', 'This fake inspects no ISO.');
    },
    'vm.create': (p) => (rec('vm.create', p), summary(p.name ?? 'created')),
    'vm.eject': (p) => (rec('vm.eject', p), summary(p.vm)),
    'mdev.list': (p) => (
      rec('mdev.list', p),
      { parents: [], devices: [], mdevctl: { installed: false, definitions: [] }, notes: [] }
    ),
    'mdev.types': (p) => (rec('mdev.types', p), []),
    'mdev.check': (p) => (rec('mdev.check', p), { vm: p.vm, ready: true, checks: [], fixActions: [], hostOnly: true }),
    'mdev.create': (p) => (rec('mdev.create', p), { outcome: 'manual', command: 'sudo helper create' }),
    'mdev.remove': (p) => (rec('mdev.remove', p), { outcome: 'manual', command: 'sudo helper remove' }),
    'mdev.applyFixes': (p) => (rec('mdev.applyFixes', p), { outcome: 'manual', command: 'sudo helper apply-fix' }),
    'mdev.assign': (p) => (rec('mdev.assign', p), summary(p.vm)),
    'mdev.unassign': (p) => (rec('mdev.unassign', p), summary(p.vm)),
    ...over,
  };
  return { handlers, calls };
}

describe('createDispatcher', () => {
  it('runs the handler with the validated params and returns its result', async () => {
    const { handlers, calls } = fakeHandlers();
    const r = await createDispatcher(handlers).dispatch('vm.start', { vm: 'web', timeoutMs: 1000 });
    expect(r).toEqual({ ok: true, result: { ...summary('web'), state: 'running' } });
    expect(calls).toEqual([{ method: 'vm.start', params: { vm: 'web', timeoutMs: 1000 } }]);
  });

  it('treats missing params as {}', async () => {
    const { handlers, calls } = fakeHandlers();
    expect(await createDispatcher(handlers).dispatch('vm.list', undefined)).toMatchObject({ ok: true });
    expect(calls).toEqual([{ method: 'vm.list', params: {} }]);
  });

  it.each([['vm.explode'], ['toString'], ['__proto__'], ['constructor'], [42], [null]])(
    'refuses the unknown method %j with invalid-argument',
    async (method) => {
      const { handlers, calls } = fakeHandlers();
      const r = await createDispatcher(handlers).dispatch(method, {});
      expect(r).toMatchObject({ ok: false, error: { code: 'invalid-argument', details: { field: 'method' } } });
      expect(calls).toEqual([]);
    },
  );

  it('refuses params of the wrong type, naming the field', async () => {
    const { handlers, calls } = fakeHandlers();
    const r = await createDispatcher(handlers).dispatch('vm.start', { vm: 5 });
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid-argument', details: { field: 'vm' } } });
    expect(!r.ok && r.error.message).toMatch(/vm\.start.*"vm"/);
    expect(calls).toEqual([]);
  });

  it('names a nested field', async () => {
    const { handlers } = fakeHandlers();
    const r = await createDispatcher(handlers).dispatch('vm.define', {
      name: 'x',
      memoryMiB: 512,
      cpus: 1,
      disk: { sizeBytes: '20G' },
    });
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid-argument', details: { field: 'disk.sizeBytes' } } });
  });

  // Was a bug: the debug line's JSON.stringify overflowed the stack ("internal: Maximum call stack
  // size exceeded"), and over a transport the reply lost its id.
  it('refuses params nested 50 000 levels deep before any recursive work, with a sentence', async () => {
    const { handlers, calls } = fakeHandlers();
    let deep: unknown = 1;
    for (let i = 0; i < 50_000; i++) deep = { a: deep };
    const lines: string[] = [];
    const d = createDispatcher(handlers, (l) => lines.push(l));
    const r = await d.dispatch('vm.define', { name: 'x', memoryMiB: 64, cpus: 1, disk: deep });
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid-argument' } });
    expect(!r.ok && r.error.message).toBe(
      'Invalid arguments for vm.define: The arguments are nested more than 32 levels deep.',
    );
    expect(calls).toEqual([]);
  });

  it('refuses cyclic params (the Electron transport carries structured clones) and huge ones', async () => {
    const { handlers, calls } = fakeHandlers();
    const cyclic: Record<string, unknown> = { vm: 'web' };
    cyclic.self = cyclic;
    const huge = { vm: 'web', list: Array.from({ length: 200_000 }, () => 0) };
    for (const params of [cyclic, huge]) {
      const r = await createDispatcher(handlers).dispatch('vm.get', params);
      expect(r).toMatchObject({ ok: false, error: { code: 'invalid-argument' } });
      expect(!r.ok && r.error.message).toMatch(/nested more than 32 levels|more than 100000 values/);
    }
    expect(calls).toEqual([]);
  });

  it('answers with the contract’s own sentence, and the field, when one of its checks refuses', async () => {
    const { handlers } = fakeHandlers();
    const r = await createDispatcher(handlers).dispatch('vm.define', { name: 'x', memoryMiB: 128.5, cpus: 1 });
    expect(r).toEqual({
      ok: false,
      error: {
        code: 'invalid-argument',
        message: 'Memory must be a whole number of MiB, not 128.5.',
        details: { field: 'memoryMiB' },
      },
    });
  });

  it('refuses a missing required field', async () => {
    const { handlers } = fakeHandlers();
    const r = await createDispatcher(handlers).dispatch('vm.get', {});
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid-argument', details: { field: 'vm' } } });
  });

  it('refuses params that are not an object', async () => {
    const { handlers } = fakeHandlers();
    for (const params of ['web', 5, ['web']]) {
      expect(await createDispatcher(handlers).dispatch('vm.get', params)).toMatchObject({
        ok: false,
        error: { code: 'invalid-argument' },
      });
    }
  });

  it('refuses extra keys', async () => {
    const { handlers, calls } = fakeHandlers();
    const r = await createDispatcher(handlers).dispatch('vm.get', { vm: 'web', force: true });
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid-argument' } });
    expect(!r.ok && r.error.message).toContain('force');
    expect(calls).toEqual([]);
  });

  it('refuses a "__proto__" key parsed from JSON, and Object.prototype stays clean', async () => {
    const { handlers, calls } = fakeHandlers();
    const d = createDispatcher(handlers);
    const r = await d.dispatch('vm.get', JSON.parse('{"vm":"web","__proto__":{"polluted":true}}'));
    const list = await d.dispatch('vm.list', JSON.parse('{"__proto__":{"polluted":true}}'));
    for (const res of [r, list]) expect(res).toMatchObject({ ok: false, error: { code: 'invalid-argument' } });
    expect(calls).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a "__proto__" key inside a nested object before any handler runs', async () => {
    const { handlers, calls } = fakeHandlers();
    const params: unknown = JSON.parse(
      '{"name":"web","memoryMiB":512,"cpus":1,"forwards":[{"proto":"tcp","hostPort":2222,"guestPort":22,"__proto__":{"polluted":true}}]}',
    );
    const r = await createDispatcher(handlers).dispatch('vm.define', params);
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid-argument' } });
    expect(calls).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps the code, message and details of a VmdeskError from a handler', async () => {
    const { handlers } = fakeHandlers({
      'vm.start': () => {
        throw new VmdeskError('disk-in-use', 'The disk is used by "db".', { field: 'disk', vm: 'db' });
      },
    });
    const r = await createDispatcher(handlers).dispatch('vm.start', { vm: 'web' });
    expect(r).toEqual({
      ok: false,
      error: { code: 'disk-in-use', message: 'The disk is used by "db".', details: { field: 'disk', vm: 'db' } },
    });
  });

  it('keeps a VmdeskError from an async handler too', async () => {
    const { handlers } = fakeHandlers({
      'vm.stop': async () => {
        throw new VmdeskError('invalid-state', 'The VM is not running.');
      },
    });
    const r = await createDispatcher(handlers).dispatch('vm.stop', { vm: 'web' });
    expect(r).toEqual({ ok: false, error: { code: 'invalid-state', message: 'The VM is not running.' } });
  });

  it('turns any other error into internal, keeping its message', async () => {
    const { handlers } = fakeHandlers({
      'vm.list': () => {
        throw new TypeError('cannot read properties of undefined');
      },
    });
    const r = await createDispatcher(handlers).dispatch('vm.list', {});
    expect(r).toEqual({ ok: false, error: { code: 'internal', message: 'cannot read properties of undefined' } });
  });

  it('logs each call to the debug sink', async () => {
    const lines: string[] = [];
    const { handlers } = fakeHandlers();
    await createDispatcher(handlers, (l) => lines.push(l)).dispatch('vm.get', { vm: 'web' });
    expect(lines).toEqual(['call vm.get {"vm":"web"}']);
  });
});
