/**
 * The one dispatcher every transport calls: checks the method exists, validates params against
 * the contract's schema, runs the handler, and turns any failure into `{code, message, details}`.
 */
import * as v from 'valibot';
import { CALLS, isCallName, type CallName, type CallParams, type CallResults } from '../common/contract.js';
import { serializeError, VmdeskError, type SerializedError } from '../common/errors.js';
import { logPreview, paramsShapeProblem } from '../common/request-limits.js';
import { asStorageError } from '../paths/storage-errors.js';
import { describeIssues } from '../vm/definition-store.js';
import type { VmManager } from '../vm/vm-manager.js';
import type { HostReport } from '../common/host-types.js';
import type { MdevService } from '../mdev/service.js';
import { isoLibraryDir } from '../paths/vm-files.js';
import { readSettings, settingsFile, writeSettings } from '../vm/app-settings.js';
import { setDriverLogLevel } from '../vm/driver-log.js';
import type { IsoPlan } from '../common/iso-types.js';

/** What a transport knows about the call beyond its params. */
export interface CallContext {
  /** Aborted when the caller goes away (its connection closed): a long job it started stops. */
  signal?: AbortSignal;
}

export type Handlers = {
  [C in CallName]: (params: CallParams<C>, ctx: CallContext) => Promise<CallResults[C]> | CallResults[C];
};

export function managerHandlers(m: VmManager, hostReport: () => Promise<HostReport>, mdev: MdevService): Handlers {
  // The app settings: read at each use (a file edited by hand counts at once), the log level
  // applied now and at every change.
  const settings = () => readSettings(settingsFile(m.paths));
  setDriverLogLevel(settings().values.logLevel);
  /** The plan with the `defaultFirmware` setting applied where the disc allows it. */
  const preferredPlan = async (plan: IsoPlan): Promise<IsoPlan> => {
    const preferred = settings().values.defaultFirmware;
    if (preferred === 'auto') return plan;
    const firmware = await hostReport().then(
      (r) => r.firmware.images,
      () => [],
    );
    const { withFirmwarePreference } = await import('../vm/iso-plan.js');
    return withFirmwarePreference(
      plan,
      preferred,
      firmware.some((i) => i.arch === plan.defaults.arch),
    );
  };
  /** A new VM with no accelerator of its own gets the `defaultAccel` setting (VMDESK_ACCEL, which
   * wins over every VM's choice at start, is not written into definitions). */
  const fileAccel = <P extends { accel?: 'auto' | 'kvm' | 'hvf' | 'tcg' }>(p: P): P => {
    const s = settings();
    return p.accel === undefined && s.sources.defaultAccel === 'file' ? { ...p, accel: s.values.defaultAccel } : p;
  };
  return {
    'settings.get': () => settings(),
    'settings.set': (p) => {
      const report = writeSettings(settingsFile(m.paths), p.values);
      setDriverLogLevel(report.values.logLevel);
      return report;
    },
    'vm.list': (p) => m.list(p.host),
    'vm.get': (p) => m.getAny(p.vm),
    'vm.thumbnail': (p) => m.thumbnail(p.vm),
    'vm.define': (p) => m.define(fileAccel(p)),
    'vm.start': (p) => m.start(p),
    'vm.shutdown': (p) => m.shutdown(p),
    'vm.stop': (p) => m.stop(p),
    'vm.reboot': (p) => m.reboot(p),
    'vm.pause': (p) => m.pause(p),
    'vm.resume': (p) => m.resume(p),
    'vm.delete': (p) => m.delete(p),
    'vm.logPaths': (p) => m.logPaths(p.vm),
    'vm.orphans': () => m.orphans(),
    'host.info': () => hostReport(),
    'host.usbDevices': () => m.usbDevices(),
    'host.usbFix': (p) => mdev.applyActions([{ kind: 'usb-rule', vendorId: p.vendorId, productId: p.productId }]),
    'vm.usbAttach': (p) => m.usbAttach(p),
    'vm.usbDetach': (p) => m.usbDetach(p),
    'iso.inspect': async (p) => preferredPlan(await m.inspectIso(p.path)),
    // A folder of the user's (isoFolder) holds other files too: only disc images count there.
    // The ISO code (readers, the osinfo table) loads at the first ISO call: see VmManager.inspectIso.
    'iso.list': async () => {
      const folder = settings().values.isoFolder;
      const { listIsoLibrary } = await import('../iso/library.js');
      return listIsoLibrary(isoLibraryDir(m.paths, folder), m.list(), folder !== '');
    },
    'iso.remove': async (p) => {
      const folder = settings().values.isoFolder;
      const { removeFromIsoLibrary } = await import('../iso/library.js');
      return removeFromIsoLibrary(isoLibraryDir(m.paths, folder), p.path, m.list(), folder !== '');
    },
    'vm.create': async (p) => {
      if (p.firmware !== undefined || settings().values.defaultFirmware === 'auto') return m.create(fileAccel(p));
      const plan = await preferredPlan(await m.inspectIso(p.iso));
      return m.create(fileAccel({ ...p, firmware: plan.defaults.firmware }));
    },
    'vm.eject': (p) => m.eject(p),
    'vm.insertCdrom': (p) => m.insertCdrom(p),
    'vm.update': (p) => m.update(p),
    'vm.addForward': (p) => m.addForward(p),
    'vm.removeForward': (p) => m.removeForward(p),
    'vm.addDisk': (p) => m.addDisk(p),
    'vm.removeDisk': (p) => m.removeDisk(p),
    'vm.resizeDisk': (p) => m.resizeDisk(p),
    'vm.convertDisk': (p) => m.convertDisk(p),
    'vm.clone': (p, ctx) => m.clone(p, ctx.signal),
    'snapshot.list': (p) => m.snapshotListAny(p),
    'snapshot.create': (p, ctx) => m.snapshotCreate(p, ctx.signal),
    'snapshot.revert': (p, ctx) => m.snapshotRevert(p, ctx.signal),
    'snapshot.delete': (p) => m.snapshotDelete(p),
    'snapshot.update': (p) => m.snapshotUpdate(p),
    'snapshot.thumbnail': (p) => m.snapshotThumbnail(p),
    'job.cancel': (p) => m.cancelJob(p),
    'host.connections': () => m.hosts.connections(),
    'host.connect': (p) => m.hosts.connect(p.uri, { remember: p.remember }),
    'host.disconnect': (p) => m.hosts.disconnect(p.connection, { forget: p.forget }),
    'vm.exportXml': (p) => m.exportXml(p),
    'vm.importXml': (p) => m.importXml(p),
    'mdev.list': () => mdev.inventory(),
    'mdev.types': (p) => mdev.types(p.parent),
    'mdev.check': (p) => mdev.check(p.vm, p.assignments),
    'mdev.create': (p) => mdev.create(p),
    'mdev.remove': (p) => mdev.remove(p),
    'mdev.applyFixes': (p) => mdev.applyFixes(p.vm, p.assignments, { persistent: p.persistent }),
    'mdev.assign': (p) => mdev.assign(p.vm, p),
    'mdev.unassign': (p) => mdev.unassign(p.vm, p.uuid),
  };
}

export type DispatchResult = { ok: true; result: unknown } | { ok: false; error: SerializedError };

export interface Dispatcher {
  dispatch(method: unknown, params: unknown, ctx?: CallContext): Promise<DispatchResult>;
}

/** Params are validated into a fresh object: prototype-polluting keys never reach a handler. */
export function createDispatcher(handlers: Handlers, debug?: (line: string) => void): Dispatcher {
  return {
    async dispatch(method, params, ctx = {}) {
      try {
        if (!isCallName(method)) {
          throw new VmdeskError('invalid-argument', `Unknown call ${JSON.stringify(method)?.slice(0, 100)}.`, {
            field: 'method',
          });
        }
        const shape = paramsShapeProblem(params);
        if (shape) throw new VmdeskError('invalid-argument', `Invalid arguments for ${method}: ${shape}`);
        const parsed = v.safeParse(CALLS[method].params, params ?? {});
        if (!parsed.success) {
          const first = parsed.issues[0]!;
          const field = v.getDotPath(first) ?? undefined;
          // The contract's own checks carry a whole sentence for the user ("Memory must be a whole
          // number of MiB, not 128.5."): it is the message. Valibot's generic issues get context.
          const own = first.type === 'check' && first.expected === null;
          throw new VmdeskError(
            'invalid-argument',
            own ? first.message : `Invalid arguments for ${method}: ${describeIssues(parsed.issues)}.`,
            field ? { field } : undefined,
          );
        }
        debug?.(`call ${method} ${logPreview(parsed.output)}`);
        const handler = handlers[method] as (p: unknown, ctx: CallContext) => unknown;
        return { ok: true, result: await handler(parsed.output, ctx) };
      } catch (err) {
        return { ok: false, error: serializeError(asStorageError(err)) };
      }
    },
  };
}
