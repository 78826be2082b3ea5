/**
 * A typed in-memory VmdeskApi for development and screenshots (page URL `#demo`, or
 * `#demo-empty` for a host without VMs). State changes go through short "starting"/"stopping"
 * phases and are announced as vm.changed events, like the driver does.
 */
import { STREAM_CLOSE, type ConnectionState, type StreamChannel, type VmdeskApi } from '../../main/common/api.js';
import type {
  CallName,
  CallParams,
  CallResults,
  ContractEvents,
  EventName,
  StreamName,
  StreamParams,
} from '../../main/common/contract.js';
import { VmdeskError } from '../../main/common/errors.js';
import { sameVmName, vmNameProblem } from '../../main/common/names.js';
import type { VmState, VmSummary } from '../../main/common/vm-types.js';
import type { IsoUploader } from '../api/file-intake.js';
import { sampleDefinition, sampleHostReport, sampleLog, samplePaths, sampleVms } from './fake-data.js';
import { fakePlan, fakeUpload } from './fake-iso.js';
import { createFakeMdev } from './fake-mdev.js';
import { FakeChannel, logServer, rfbServer, serialServer } from './fake-streams.js';

type Listener = <E extends EventName>(name: E, data: ContractEvents[E]) => void;

export interface FakeApi extends VmdeskApi, IsoUploader {
  /** Drops the "connection" for `ms`, then comes back (to see the banner and the refetch). */
  simulateReconnect(ms: number): void;
  /** Pushes an event as if the driver sent it (tests). */
  emitEvent<E extends EventName>(name: E, data: ContractEvents[E]): void;
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function createFakeApi(opts: { empty?: boolean; latencyMs?: number } = {}): FakeApi {
  const vms = new Map<string, VmSummary>((opts.empty ? [] : sampleVms()).map((v) => [v.id, v]));
  const events = new Set<Listener>();
  const conn = new Set<(s: ConnectionState) => void>();
  const channels = new Map<string, Set<FakeChannel>>();
  let state: ConnectionState = 'open';
  const latency = opts.latencyMs ?? 120;

  const emit: Listener = (name, data) => {
    for (const l of events) l(name, data);
  };
  const names = () => [...vms.values()].map((v) => v.name);
  const find = (ref: string): VmSummary => {
    const vm = vms.get(ref) ?? [...vms.values()].find((v) => sameVmName(v.name, ref));
    if (!vm) throw new VmdeskError('not-found', `There is no VM "${ref}". See the list for the names.`);
    return vm;
  };
  const put = (vm: VmSummary) => {
    vms.set(vm.id, vm);
    emit('vm.changed', vm);
    return vm;
  };
  const setState = (vm: VmSummary, s: VmState, extra: Partial<VmSummary> = {}): VmSummary => {
    const next: VmSummary = { ...vm, state: s, ...extra };
    if (s === 'stopped') {
      delete next.pid;
      delete next.accel;
      delete next.startedAt;
    }
    if (s === 'stopped' || s === 'crashed') delete next.sandbox;
    if (s === 'stopped' || s === 'crashed')
      for (const ch of channels.get(vm.id) ?? []) ch.server.end('The VM stopped.');
    return put(next);
  };
  const requireState = (vm: VmSummary, allowed: VmState[], verb: string) => {
    if (!allowed.includes(vm.state))
      throw new VmdeskError(
        'invalid-state',
        `"${vm.name}" is ${vm.state}; it can be ${verb} only when ${allowed.join(' or ')}.`,
        { state: vm.state },
      );
  };

  const mdev = createFakeMdev();
  const stoppedOnly = (vm: VmSummary) => requireState(vm, ['stopped', 'crashed'], 'given other mediated devices');
  // The ISO library: what the browser uploaded (an abandoned wizard's image too).
  const isoDir = '/home/ada/.local/share/vmdesk/isos';
  const isos = new Map<string, { sizeBytes: number; storedAt: string; os?: string }>([
    [
      `${isoDir}/debian-12.8.0-amd64-netinst.iso`,
      { sizeBytes: 661_651_456, storedAt: '2025-01-12T09:30:00.000Z', os: 'Debian 12' },
    ],
    [
      `${isoDir}/Fedora-Workstation-Live-x86_64-41.iso`,
      { sizeBytes: 2_295_201_792, storedAt: '2025-02-03T18:02:00.000Z', os: 'Fedora 41' },
    ],
    [`${isoDir}/drivers.iso`, { sizeBytes: 4_194_304, storedAt: '2025-02-04T08:15:00.000Z' }],
  ]);
  const isoUsers = (file: string) =>
    [...vms.values()].filter((v) => v.definition?.cdrom === file).map((v) => ({ id: v.id, name: v.name }));

  const handlers: { [C in CallName]: (p: CallParams<C>) => Promise<CallResults[C]> | CallResults[C] } = {
    'vm.list': () => [...vms.values()],
    'vm.get': (p) => find(p.vm),
    'vm.define': (p) => {
      const np = vmNameProblem(p.name);
      if (np) throw new VmdeskError('invalid-argument', np, { field: 'name' });
      if ([...vms.values()].some((v) => sameVmName(v.name, p.name)))
        throw new VmdeskError('name-taken', `A VM named "${p.name}" already exists. Choose another name.`, {
          field: 'name',
        });
      if (!(p.memoryMiB >= 16))
        throw new VmdeskError('invalid-argument', 'Memory must be at least 16 MiB (e.g. --memory 1G).', {
          field: 'memory',
        });
      if (!Number.isInteger(p.cpus) || p.cpus < 1)
        throw new VmdeskError('invalid-argument', 'A VM needs at least 1 CPU.', { field: 'cpus' });
      if (p.cdrom !== undefined && !/^\/.+\.iso$/i.test(p.cdrom))
        throw new VmdeskError('invalid-argument', `The ISO image ${p.cdrom} does not exist. Check the path.`, {
          field: 'cdrom',
        });
      const id = crypto.randomUUID();
      const def = sampleDefinition(id, p.name, {
        memoryMiB: p.memoryMiB,
        cpus: p.cpus,
        accel: p.accel ?? 'auto',
        cdrom: p.cdrom ?? null,
        boot: p.cdrom ? 'cdrom' : 'disk',
        disks: p.disk
          ? [
              {
                path: `/home/ada/.local/share/vmdesk/vms/${id}/disk0.qcow2`,
                format: 'qcow2',
                owned: true,
                readOnly: false,
              },
            ]
          : [],
        createdAt: new Date().toISOString(),
      });
      return put({
        id,
        name: p.name,
        state: 'stopped',
        definition: def,
        file: `/home/ada/.config/vmdesk/vms/${id}.json`,
        paths: samplePaths(id),
      });
    },
    'vm.start': async (p) => {
      const vm = find(p.vm);
      requireState(vm, ['stopped', 'crashed'], 'started');
      setState(vm, 'starting', { reason: undefined, logTail: undefined });
      await delay(600);
      const accel =
        vm.definition?.accel === 'tcg'
          ? { accel: 'tcg' as const, reason: 'Forced by the VM definition (accel: tcg).' }
          : { accel: 'kvm' as const, reason: 'KVM is usable: /dev/kvm is readable and writable by you.' };
      return setState(find(vm.id), 'running', {
        pid: 40000 + Math.floor(Math.random() * 9999),
        startedAt: new Date().toISOString(),
        accel,
        sandbox: { on: true },
      });
    },
    'vm.shutdown': async (p) => {
      const vm = find(p.vm);
      requireState(vm, ['running'], 'shut down');
      setState(vm, 'stopping');
      await delay(900);
      return setState(find(vm.id), 'stopped');
    },
    'vm.stop': async (p) => {
      const vm = find(p.vm);
      requireState(vm, ['running', 'paused', 'starting', 'stopping'], 'forced off');
      setState(vm, 'stopping');
      await delay(300);
      return setState(find(vm.id), 'stopped');
    },
    'vm.reboot': (p) => {
      const vm = find(p.vm);
      requireState(vm, ['running', 'paused'], 'reset');
      return vm;
    },
    'vm.pause': (p) => {
      const vm = find(p.vm);
      requireState(vm, ['running'], 'paused');
      return setState(vm, 'paused');
    },
    'vm.resume': (p) => {
      const vm = find(p.vm);
      requireState(vm, ['paused'], 'resumed');
      return setState(vm, 'running');
    },
    'vm.delete': (p) => {
      const vm = find(p.vm);
      requireState(vm, ['stopped', 'crashed', 'broken'], 'deleted');
      vms.delete(vm.id);
      emit('vm.removed', { id: vm.id });
      // As the driver answers: the VM's own files go (its data dir unless disks are kept), the
      // disks vmdesk did not create stay.
      const data = `/home/ada/.local/share/vmdesk/vms/${vm.id}`;
      const disks = vm.definition?.disks ?? [];
      const own = disks.filter((d) => d.path.startsWith(`${data}/`)).map((d) => d.path);
      const logs = `/home/ada/.local/state/vmdesk/logs/${vm.id}`;
      const kept = [...(p.keepDisks ? own : []), ...disks.filter((d) => !own.includes(d.path)).map((d) => d.path)];
      const removed = [...(p.keepDisks ? [] : [...own, data]), logs, vm.file];
      return { id: vm.id, removed, kept };
    },
    'vm.orphans': () => [],
    'vm.logPaths': (p) => {
      const paths = find(p.vm).paths ?? samplePaths(p.vm);
      return { qemu: paths.qemuLog, serial: paths.serialLog, driver: paths.driverLog };
    },
    'host.info': () => sampleHostReport(),
    'iso.inspect': (p) => {
      if (!/\.(iso|img)$/i.test(p.path))
        throw new VmdeskError('invalid-argument', `${p.path} does not look like an ISO disc image.`, { field: 'iso' });
      return fakePlan(p.path, 700 * 2 ** 20, names());
    },
    'vm.create': async (p) => {
      const d = fakePlan(p.iso, 700 * 2 ** 20, names()).defaults;
      if ((p.diskGiB ?? d.diskGiB) > 2000)
        throw new VmdeskError(
          'insufficient-resources',
          `A ${p.diskGiB} GiB disk does not fit: 412.5 GiB free in /home/ada/.local/share/vmdesk. Choose a smaller disk size or free space.`,
          { field: 'diskSize' },
        );
      await delay(500);
      const vm = await handlers['vm.define']({
        name: p.name ?? d.name,
        memoryMiB: p.memoryMiB ?? d.memoryMiB,
        cpus: p.cpus ?? d.cpus,
        firmware: p.firmware ?? d.firmware,
        cdrom: p.iso,
        disk: { sizeBytes: (p.diskGiB ?? d.diskGiB) * 2 ** 30 },
      });
      const def = vm.definition ? { ...vm.definition, firmware: p.firmware ?? d.firmware } : undefined;
      const made = put({ ...vm, definition: def });
      return p.start ? handlers['vm.start']({ vm: made.id }) : made;
    },
    'vm.eject': (p) => {
      const vm = find(p.vm);
      if (!vm.definition?.cdrom) throw new VmdeskError('invalid-state', `"${vm.name}" has no ISO inserted.`);
      return put({ ...vm, definition: { ...vm.definition, cdrom: null, boot: 'disk' } });
    },
    'iso.list': () =>
      [...isos]
        .map(([path, e]) => ({ path, name: path.slice(isoDir.length + 1), ...e, usedBy: isoUsers(path) }))
        .sort((a, b) => (a.name < b.name ? -1 : 1)),
    'iso.remove': (p) => {
      if (!isos.has(p.path))
        throw new VmdeskError('not-found', `There is no image "${p.path}" in the ISO library.`, { field: 'path' });
      const users = isoUsers(p.path);
      if (users.length > 0)
        throw new VmdeskError('disk-in-use', `It is used by the VM "${users[0]!.name}": eject it first.`, {
          field: 'path',
        });
      isos.delete(p.path);
      return { path: p.path };
    },
    'mdev.list': () => mdev.list([...vms.values()]),
    'mdev.types': (p) => mdev.list([...vms.values()]).parents.filter((x) => !p.parent || x.name === p.parent),
    'mdev.check': async (p) => {
      await delay(300);
      const vm = find(p.vm);
      return mdev.check(vm, p.assignments ?? vm.definition?.mdevs ?? []);
    },
    'mdev.applyFixes': async (p) => {
      await delay(900);
      const vm = find(p.vm);
      return mdev.applyFixes(vm, p.assignments ?? vm.definition?.mdevs ?? []);
    },
    'mdev.create': (p) => ({
      outcome: 'manual',
      command: `sudo /usr/libexec/vmdesk/vmdesk-mdev-helper create --parent ${p.parent} --type ${p.type}`,
    }),
    'mdev.remove': (p) => ({
      outcome: 'manual',
      command: `sudo /usr/libexec/vmdesk/vmdesk-mdev-helper remove --uuid ${p.uuid}`,
    }),
    'mdev.assign': (p) => {
      const vm = find(p.vm);
      stoppedOnly(vm);
      if (!vm.definition) throw new VmdeskError('vm-broken', `"${vm.name}" cannot be read.`);
      return put({ ...vm, definition: { ...vm.definition, mdevs: [...vm.definition.mdevs, mdev.assignment(p)] } });
    },
    'mdev.unassign': (p) => {
      const vm = find(p.vm);
      stoppedOnly(vm);
      if (!vm.definition) throw new VmdeskError('vm-broken', `"${vm.name}" cannot be read.`);
      return put({
        ...vm,
        definition: { ...vm.definition, mdevs: vm.definition.mdevs.filter((m) => m.uuid !== p.uuid) },
      });
    },
  };

  const openStream = <S extends StreamName>(name: S, params: StreamParams<S>): StreamChannel => {
    let vm: VmSummary | undefined;
    try {
      vm = find(params.vm);
    } catch {
      /* refused below */
    }
    const live = vm && (vm.state === 'running' || vm.state === 'paused');
    const ch = new FakeChannel((server) => {
      if (!vm) return server.end(`There is no VM "${params.vm}".`, STREAM_CLOSE.refused);
      if (name !== 'log.tail' && !live)
        return server.end(`"${vm.name}" is ${vm.state}; its console is available while it runs.`, STREAM_CLOSE.refused);
      if (name === 'console.serial') return serialServer(vm.name)(server);
      if (name === 'console.vnc') return rfbServer(vm.name)(server);
      const p = params as StreamParams<'log.tail'>;
      return logServer(sampleLog(p.which, vm.name, p.lines ?? 200))(server);
    });
    if (vm && name !== 'log.tail') {
      const set = channels.get(vm.id) ?? new Set<FakeChannel>();
      set.add(ch);
      channels.set(vm.id, set);
    }
    return ch;
  };

  return {
    async call(method, params) {
      if (state !== 'open')
        throw new VmdeskError(
          'cancelled',
          'The connection to vmdesk was lost before it answered. Check the VM and try again.',
        );
      await delay(latency);
      const handler = handlers[method] as (
        p: typeof params,
      ) => Promise<CallResults[typeof method]> | CallResults[typeof method];
      return structuredClone(await handler(params));
    },
    onEvent(listener) {
      events.add(listener);
      return () => events.delete(listener);
    },
    onConnection(listener) {
      conn.add(listener);
      listener(state);
      return () => conn.delete(listener);
    },
    openStream,
    uploadIso: (file, onProgress) => fakeUpload(file, onProgress, names),
    emitEvent: emit,
    simulateReconnect(ms) {
      state = 'connecting';
      for (const l of conn) l(state);
      setTimeout(() => {
        state = 'open';
        for (const l of conn) l(state);
      }, ms);
    },
  };
}
