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
  SnapshotInfo,
  EventName,
  StreamName,
  StreamParams,
} from '../../main/common/contract.js';
import { VmdeskError } from '../../main/common/errors.js';
import { sameVmName, snapshotNameProblem, vmNameProblem } from '../../main/common/names.js';
import type { VmDefinition, VmState, VmSummary } from '../../main/common/vm-types.js';
import type { IsoUploader } from '../api/file-intake.js';
import { forwardLabel, forwardsOverlap } from '../../main/common/forwards.js';
import {
  fakeScreenPng,
  sampleDefinition,
  sampleHostReport,
  sampleLog,
  samplePaths,
  sampleSnapshots,
  sampleUsbDevices,
  sampleVms,
} from './fake-data.js';
import { fakePlan, fakeUpload } from './fake-iso.js';
import { createFakeHosts } from './fake-hosts.js';
import { createFakeSettings } from './fake-settings.js';
import { createFakeMdev } from './fake-mdev.js';
import { FakeChannel, logServer, rfbServer, serialServer } from './fake-streams.js';

type Handlers = { [C in CallName]: (p: CallParams<C>) => Promise<CallResults[C]> | CallResults[C] };
type Listener = <E extends EventName>(name: E, data: ContractEvents[E]) => void;

export interface FakeApi extends VmdeskApi, IsoUploader {
  /** Drops the "connection" for `ms`, then comes back (to see the banner and the refetch). */
  simulateReconnect(ms: number): void;
  /** Pushes an event as if the driver sent it (tests). */
  emitEvent<E extends EventName>(name: E, data: ContractEvents[E]): void;
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A definition's revision as the fake tells it: a hash of its content (FNV-1a), so any change is a new one. */
function fakeRevision(def: VmDefinition | undefined): string | undefined {
  if (!def) return undefined;
  let h = 0x811c9dc5;
  for (const c of JSON.stringify(def)) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** The summary as the fake keeps it: its definition's revision; `pending` only while QEMU is there. */
function stamped(vm: VmSummary): VmSummary {
  const next: VmSummary = { ...vm, revision: fakeRevision(vm.definition) };
  if (!['starting', 'running', 'paused', 'stopping'].includes(vm.state) || next.pending?.length === 0)
    delete next.pending;
  if (!['starting', 'running', 'paused', 'stopping'].includes(vm.state)) {
    delete next.live;
    delete next.guest;
    delete next.shares;
    delete next.usb;
  }
  return next;
}

export function createFakeApi(opts: { empty?: boolean; latencyMs?: number } = {}): FakeApi {
  /** Each VM's snapshots (by VM id), as the driver keeps them in its qcow2 disks. */
  const snaps = new Map<string, SnapshotInfo[]>(opts.empty ? [] : Object.entries(sampleSnapshots()));
  const withCount = (v: VmSummary): VmSummary => {
    const list = snaps.get(v.id) ?? [];
    return {
      ...v,
      snapshots: { count: list.length, vmStateBytes: list.reduce((n, x) => n + (x.vmStateBytes ?? 0), 0) },
    };
  };
  const vms = new Map<string, VmSummary>((opts.empty ? [] : sampleVms()).map((v) => [v.id, stamped(withCount(v))]));
  /** The definition each running VM's QEMU started with, by `id@startedAt` (what `pending` compares to). */
  const startedWith = new Map<string, VmDefinition>();
  const events = new Set<Listener>();
  const conn = new Set<(s: ConnectionState) => void>();
  const channels = new Map<string, Set<FakeChannel>>();
  let state: ConnectionState = 'open';
  const latency = opts.latencyMs ?? 120;

  const emit: Listener = (name, data) => {
    for (const l of events) l(name, data);
  };
  const names = () => [...vms.values()].map((v) => v.name);
  /** Full clones (vm.clone) and live snapshots (snapshot.create) under way, by job id: what job.cancel stops. */
  const jobs = new Map<string, AbortController>();
  const find = (ref: string): VmSummary => {
    const vm = vms.get(ref) ?? [...vms.values()].find((v) => sameVmName(v.name, ref));
    if (!vm) throw new VmdeskError('not-found', `There is no VM "${ref}". See the list for the names.`);
    return vm;
  };
  const put = (summary: VmSummary) => {
    const vm = stamped(withCount(summary));
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

  const hostConns = createFakeHosts({ vms, emit, put, latencyMs: latency, empty: opts.empty });
  const settings = createFakeSettings();
  for (const vm of hostConns.initialVms()) vms.set(vm.id, stamped(withCount(vm)));

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
    [...vms.values()].filter((v) => v.definition?.cdroms.includes(file)).map((v) => ({ id: v.id, name: v.name }));

  // Disks and CD-ROM drives, as the driver changes them (app/main/vm/vm-instance.ts, disks.ts).
  /** The demo's disk sizes by path (bytes); a disk not listed is 20 GiB. */
  const diskSizes = new Map<string, number>();
  const sizeOf = (file: string) => diskSizes.get(file) ?? 20 * 2 ** 30;
  const readable = (vm: VmSummary): VmDefinition => {
    if (!vm.definition) throw new VmdeskError('vm-broken', `"${vm.name}" cannot be read.`);
    return vm.definition;
  };
  const running = (vm: VmSummary) => ['starting', 'running', 'paused', 'stopping'].includes(vm.state);
  /** What the running QEMU started with (what `pending` compares to); undefined while stopped. */
  const runDefOf = (vm: VmSummary): VmDefinition | undefined => {
    if (!running(vm)) return undefined;
    const key = `${vm.id}@${vm.startedAt ?? ''}`;
    const was = startedWith.get(key) ?? vm.definition!;
    startedWith.set(key, was);
    return was;
  };
  /** Stores `def`; `live` changes what the running QEMU has too (a hot-plug, a disc). */
  const save = (vm: VmSummary, def: VmDefinition, live?: (was: VmDefinition) => VmDefinition): VmSummary => {
    let was = runDefOf(vm);
    if (was && live) {
      was = live(was);
      startedWith.set(`${vm.id}@${vm.startedAt ?? ''}`, was);
    }
    return put({
      ...vm,
      name: def.name,
      definition: def,
      pending: was ? pendingLines(was, def) : undefined,
      live: was
        ? { disks: was.disks.map((d) => ({ target: d.target, path: d.path })), cdromDrives: was.cdroms.length }
        : undefined,
    });
  };
  const driveOf = (vm: VmSummary, d: VmDefinition, drive: number) => {
    if (drive >= d.cdroms.length)
      throw new VmdeskError(
        'invalid-argument',
        `"${vm.name}" has ${d.cdroms.length} CD-ROM drive(s); there is no drive ${drive}.`,
        { field: 'drive' },
      );
  };
  const withDisc = (cds: readonly (string | null)[], i: number, iso: string | null) =>
    cds.map((c, k) => (k === i ? iso : c));

  const snapshotsOf = (vm: VmSummary): SnapshotInfo[] => snaps.get(vm.id) ?? [];
  const setSnapshots = (vm: VmSummary, list: SnapshotInfo[]) => {
    snaps.set(vm.id, list);
    emit('snapshot.changed', { vm: vm.id, snapshots: structuredClone(list) });
    put(find(vm.id));
  };
  const snapshotNamed = (vm: VmSummary, name: string): SnapshotInfo => {
    const s = snapshotsOf(vm).find((x) => sameVmName(x.name, name));
    if (!s)
      throw new VmdeskError(
        'not-found',
        `"${vm.name}" has no snapshot "${name}". See its Snapshots tab for the names.`,
        {
          field: 'name',
        },
      );
    return s;
  };
  const nameFree = (vm: VmSummary, list: SnapshotInfo[], name: string) => {
    const np = snapshotNameProblem(name);
    if (np) throw new VmdeskError('invalid-argument', np, { field: 'name' });
    if (list.some((x) => sameVmName(x.name, name)))
      throw new VmdeskError('name-taken', `"${vm.name}" already has a snapshot named "${name}". Choose another name.`, {
        field: 'name',
      });
  };
  /** The driver's refusals, in its words (as the tab also says them before anyone tries). */
  const snapshotsAllowed = (vm: VmSummary, def: VmDefinition, withMemory: boolean) => {
    if (def.disks.length === 0)
      throw new VmdeskError('unsupported', `"${vm.name}" has no disk to keep a snapshot in. Add a qcow2 disk first.`);
    const raw = def.disks.find((d) => d.format === 'raw');
    if (raw)
      throw new VmdeskError(
        'unsupported',
        `Disk ${raw.target} of "${vm.name}" (${raw.path}) is raw, and a raw image cannot hold snapshots. Convert it to qcow2 first (qemu-img convert -O qcow2).`,
        { field: 'disk', target: raw.target },
      );
    if (withMemory && def.mdevs.length > 0)
      throw new VmdeskError(
        'invalid-state',
        `"${vm.name}" has a vGPU, whose state QEMU cannot save. Take a disk-only snapshot with the VM shut down instead.`,
      );
    const shared = def.disks.find((d) => (d.linkedClones?.length ?? 0) > 0 || d.readOnly);
    if (shared)
      throw new VmdeskError(
        'unsupported',
        (shared.linkedClones?.length ?? 0) > 0
          ? `Disk ${shared.target} of "${vm.name}" is the base of linked clones and stays read-only while they exist, so it cannot take a snapshot. Snapshot the clones instead, or delete them first.`
          : `Disk ${shared.target} of "${vm.name}" is read-only, so it cannot take a snapshot.`,
      );
  };

  const usbHost = sampleUsbDevices();
  const usbHandlers: Pick<Handlers, 'host.usbDevices' | 'host.usbFix' | 'vm.usbAttach' | 'vm.usbDetach'> = {
    'host.usbDevices': () => usbHost,
    // The demo has no administrator prompt: it says what to run, as a host without pkexec does.
    'host.usbFix': (p) => ({
      outcome: 'manual',
      command: `pkexec /usr/libexec/vmdesk/vmdesk-mdev-helper apply usb-rule,${p.vendorId},${p.productId}`,
    }),
    'vm.usbAttach': (p) => {
      const vm = find(p.vm);
      requireState(vm, ['running', 'paused'], 'given a USB device');
      const d = usbHost.devices.find((x) => `${x.vendorId}:${x.productId}` === p.device || x.port === p.device);
      if (!d)
        throw new VmdeskError(
          'not-found',
          `No USB device ${p.device} is plugged into this host. See vmdesk usb list for what is.`,
          { field: 'device' },
        );
      if (!d.access.usable) throw new VmdeskError('unsupported', d.access.reason, { field: 'device' });
      const list = vm.usb ?? [];
      const id = `usb${list.length + 1}`;
      const next = { ...vm, usb: [...list, { id, device: p.device, name: d.name, attached: true }] };
      if (!p.persist || !vm.definition) return put(next);
      const usb = [...vm.definition.usb.filter((u) => `${u.vendorId}:${u.productId}` !== p.device)];
      usb.push({ vendorId: d.vendorId, productId: d.productId });
      return save(next, { ...vm.definition, usb }, (was) => ({ ...was, usb }));
    },
    'vm.usbDetach': (p) => {
      const vm = find(p.vm);
      requireState(vm, ['running', 'paused'], 'unplugged from a USB device');
      const list = vm.usb ?? [];
      const gone = list.find((u) => u.id === p.device || u.device === p.device);
      if (!gone) throw new VmdeskError('not-found', `"${vm.name}" has no USB device ${p.device}.`, { field: 'device' });
      const next = { ...vm, usb: list.filter((u) => u !== gone) };
      if (!p.persist || !vm.definition) return put(next);
      const usb = vm.definition.usb.filter((u) => `${u.vendorId}:${u.productId}` !== gone.device);
      return save(next, { ...vm.definition, usb }, (was) => ({ ...was, usb }));
    },
  };

  const handlers: Handlers = {
    ...usbHandlers,
    ...hostConns.handlers,
    'settings.get': () => settings.report(),
    'settings.set': (p) => settings.set(p.values),
    'vm.list': (p) => [...vms.values()].filter((v) => !p.host || (v.host?.id ?? 'local') === p.host),
    'vm.get': (p) => find(p.vm),
    'vm.thumbnail': (p) => {
      const vm = find(p.vm);
      return vm.state === 'running' || vm.state === 'paused'
        ? {
            png: fakeScreenPng(`${vm.id}/screen`),
            takenAt: new Date(Math.floor(Date.now() / 3000) * 3000).toISOString(),
          }
        : { png: null, takenAt: null };
    },
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
      // As the driver checks every disc (define-vm.ts checkReadableFile): the demo's exist if they look like ISOs.
      for (const disc of [p.cdrom, ...(p.moreCdroms ?? [])])
        if (disc !== undefined && !/^\/.+\.iso$/i.test(disc))
          throw new VmdeskError('invalid-argument', `The ISO image ${disc} does not exist. Check the path.`, {
            field: 'cdrom',
          });
      if (p.secureBoot && p.firmware === 'bios')
        throw new VmdeskError(
          'invalid-argument',
          'Secure Boot is part of UEFI: choose UEFI firmware, or leave Secure Boot off.',
          { field: 'secureBoot' },
        );
      const id = crypto.randomUUID();
      const def = sampleDefinition(id, p.name, {
        memoryMiB: p.memoryMiB,
        cpus: p.cpus,
        accel: p.accel ?? 'auto',
        ...(p.firmware ? { firmware: p.firmware } : p.secureBoot ? { firmware: 'uefi' as const } : {}),
        secureBoot: p.secureBoot ?? false,
        tpm: p.tpm ?? false,
        devices: { disk: p.diskBus ?? 'virtio', nic: p.nic ?? 'virtio' },
        clock: p.clock ?? 'utc',
        hyperv: p.hyperv ?? false,
        ...(p.os ? { os: p.os } : {}),
        cdroms: [p.cdrom ?? null, ...(p.moreCdroms ?? [])],
        boot: p.cdrom ? ['cdrom', 'disk'] : ['disk', 'cdrom'],
        disks: p.disk
          ? [
              {
                path: `/home/ada/.local/share/vmdesk/vms/${id}/disk0.qcow2`,
                target: 'vda',
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
        // A freshly started guest has no agent answering yet (the demo's never does).
        guest: { connected: false },
        shares: (vm.definition?.shares ?? []).map((x) => ({
          ...x,
          mode: 'virtiofs' as const,
          mount: `sudo mount -t virtiofs ${x.tag} /mnt/${x.tag}`,
        })),
        usb: (vm.definition?.usb ?? []).map((u, i) => {
          const d = usbHost.devices.find((x) => x.vendorId === u.vendorId && x.productId === u.productId);
          const device = `${u.vendorId}:${u.productId}`;
          return { id: `usb${i + 1}`, device, ...(d ? { name: d.name } : {}), attached: !!d?.access.usable };
        }),
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
      snaps.delete(vm.id);
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
      const plan = fakePlan(p.iso, 700 * 2 ** 20, names());
      const d = plan.defaults;
      if ((p.diskGiB ?? d.diskGiB) > 2000)
        throw new VmdeskError(
          'insufficient-resources',
          `A ${p.diskGiB} GiB disk does not fit: 412.5 GiB free in /home/ada/.local/share/vmdesk. Choose a smaller disk size or free space.`,
          { field: 'diskSize' },
        );
      await delay(500);
      // As the driver's defineInputFromPlan: a driver disc goes in a second drive and means virtio.
      const drivers = p.drivers === undefined ? d.drivers : p.drivers;
      const firmware = p.firmware ?? d.firmware;
      const vm = await handlers['vm.define']({
        name: p.name ?? d.name,
        memoryMiB: p.memoryMiB ?? d.memoryMiB,
        cpus: p.cpus ?? d.cpus,
        firmware,
        cdrom: p.iso,
        ...(drivers ? { moreCdroms: [drivers] } : {}),
        disk: { sizeBytes: (p.diskGiB ?? d.diskGiB) * 2 ** 30 },
        secureBoot: p.secureBoot ?? (firmware === 'uefi' && d.secureBoot),
        tpm: p.tpm ?? d.tpm,
        diskBus: p.diskBus ?? (drivers ? 'virtio' : d.diskBus),
        nic: p.nic ?? (drivers ? 'virtio' : d.nic),
        clock: p.clock ?? d.clock,
        hyperv: p.hyperv ?? d.hyperv,
        ...(plan.os.id ? { os: { id: plan.os.id, name: plan.os.name } } : {}),
      });
      const def = vm.definition ? { ...vm.definition, firmware } : undefined;
      const made = put({ ...vm, definition: def });
      return p.start ? handlers['vm.start']({ vm: made.id }) : made;
    },
    'vm.addForward': (p) => {
      const vm = find(p.vm);
      if (!vm.definition) throw new VmdeskError('vm-broken', `"${vm.name}" cannot be read.`);
      const forward = { ...p.forward, hostAddr: p.forward.hostAddr ?? '127.0.0.1' };
      const forwards = [...vm.definition.network.forwards, forward];
      // The driver's refusals, in its words: this VM's own port twice, another VM's port, and
      // (only while running, when the driver probes) port 8000, which "another program" holds in the demo.
      const same = vm.definition.network.forwards.find((f) => forwardsOverlap(f, forward));
      if (same)
        throw new VmdeskError(
          'invalid-argument',
          `The forwards ${forwardLabel(same)} and ${forwardLabel(forward)} want the same host port (0.0.0.0 covers every address). Give each its own host port.`,
          { field: 'forward' },
        );
      const other = [...vms.values()].find(
        (o) => o.id !== vm.id && o.definition?.network.forwards.some((g) => forwardsOverlap(forward, g)),
      );
      if (other)
        throw new VmdeskError(
          'invalid-argument',
          `Host port ${forwardLabel(forward)} is already forwarded by the VM "${other.name}" (0.0.0.0 covers every address). Pick another host port.`,
          { field: 'forward' },
        );
      if (forward.hostPort === 8000 && vm.state === 'running')
        throw new VmdeskError(
          'invalid-state',
          `Host port ${forwardLabel(forward)} is in use by another program. Stop it (see \`ss -ltnup | grep :${forward.hostPort}\`), or give "${vm.name}" another host port.`,
          { field: 'forward' },
        );
      return put({ ...vm, definition: { ...vm.definition, network: { ...vm.definition.network, forwards } } });
    },
    'vm.removeForward': (p) => {
      const vm = find(p.vm);
      if (!vm.definition) throw new VmdeskError('vm-broken', `"${vm.name}" cannot be read.`);
      const addr = p.hostAddr ?? '127.0.0.1';
      const forwards = vm.definition.network.forwards.filter(
        (f) => !(f.proto === p.proto && f.hostAddr === addr && f.hostPort === p.hostPort),
      );
      if (forwards.length === vm.definition.network.forwards.length)
        throw new VmdeskError(
          'not-found',
          `"${vm.name}" forwards nothing on ${forwardLabel({ ...p, hostAddr: addr })}. \`vmdesk forward list ${vm.name}\` shows its forwards.`,
          { field: 'forward' },
        );
      return put({ ...vm, definition: { ...vm.definition, network: { ...vm.definition.network, forwards } } });
    },
    'vm.insertCdrom': (p) => {
      const vm = find(p.vm);
      const d = readable(vm);
      const drive = p.drive ?? 0;
      driveOf(vm, d, drive);
      if (!/^\/.+\.(iso|img)$/i.test(p.iso))
        throw new VmdeskError('invalid-argument', `There is no ISO image at ${p.iso}. Check the path.`, {
          field: 'iso',
        });
      return save(vm, { ...d, cdroms: withDisc(d.cdroms, drive, p.iso) }, (was) =>
        drive < was.cdroms.length ? { ...was, cdroms: withDisc(was.cdroms, drive, p.iso) } : was,
      );
    },
    'vm.eject': (p) => {
      const vm = find(p.vm);
      const d = readable(vm);
      const drive = p.drive ?? 0;
      driveOf(vm, d, drive);
      if (!d.cdroms[drive])
        throw new VmdeskError('invalid-state', `CD-ROM drive ${drive} of "${vm.name}" is already empty.`, {
          field: 'drive',
        });
      return save(vm, { ...d, cdroms: withDisc(d.cdroms, drive, null) }, (was) =>
        drive < was.cdroms.length ? { ...was, cdroms: withDisc(was.cdroms, drive, null) } : was,
      );
    },
    'vm.addDisk': (p) => {
      const vm = find(p.vm);
      const d = readable(vm);
      if ((p.sizeBytes === undefined) === (p.path === undefined))
        throw new VmdeskError('invalid-argument', 'Give either a size for a new disk or the path of an existing one.', {
          field: 'disk',
        });
      const used = new Set([...d.disks, ...(runDefOf(vm)?.disks ?? [])].map((k) => k.target));
      const target = Array.from({ length: 16 }, (_, i) => `vd${String.fromCharCode(97 + i)}`).find((t) => !used.has(t));
      if (!target)
        throw new VmdeskError('invalid-argument', `"${vm.name}" has 16 disks; a VM can have at most 16.`, {
          field: 'disk',
        });
      if (p.path !== undefined && !/^\/.+\.(qcow2|raw|img)$/i.test(p.path))
        throw new VmdeskError('invalid-argument', `There is no disk image at ${p.path}. Check the path.`, {
          field: 'file',
        });
      if (p.sizeBytes !== undefined && p.sizeBytes > 400 * 2 ** 30)
        throw new VmdeskError(
          'insufficient-resources',
          `A ${Math.round(p.sizeBytes / 2 ** 30)} GiB disk does not fit: 400 GiB free in /home/ada/.local/share/vmdesk/vms/${vm.id}. Choose a smaller size or free space.`,
          { field: 'size' },
        );
      const disk = {
        path: p.path ?? `/home/ada/.local/share/vmdesk/vms/${vm.id}/disk-${target}.qcow2`,
        target,
        format: p.path?.endsWith('.raw') ? ('raw' as const) : ('qcow2' as const),
        owned: p.path === undefined,
        readOnly: false,
      };
      if (p.sizeBytes !== undefined) diskSizes.set(disk.path, p.sizeBytes);
      // A running VM gets it at once (hot-plug).
      return save(vm, { ...d, disks: [...d.disks, disk] }, (was) => ({ ...was, disks: [...was.disks, disk] }));
    },
    'vm.removeDisk': (p) => {
      const vm = find(p.vm);
      const d = readable(vm);
      const disk = d.disks.find((k) => k.target === p.target);
      if (!disk)
        throw new VmdeskError(
          'not-found',
          `"${vm.name}" has no disk ${p.target}; its disks are ${d.disks.map((k) => k.target).join(', ') || 'none'}.`,
          { field: 'target' },
        );
      if (p.deleteFile && !disk.owned)
        throw new VmdeskError(
          'invalid-argument',
          `vmdesk did not create ${disk.path}, so it does not delete it. Remove the disk without deleting the file, and delete the file yourself if you mean to.`,
          { field: 'deleteFile' },
        );
      const was = runDefOf(vm);
      if (was && was.boot.includes('disk') && was.disks[0]?.target === disk.target)
        throw new VmdeskError(
          'invalid-state',
          `${disk.target} is the disk "${vm.name}" booted from, and it is ${vm.state}. Shut it down first, then remove it.`,
          { field: 'target' },
        );
      // The demo's guests always let go of an unplugged disk.
      return save(vm, { ...d, disks: d.disks.filter((k) => k !== disk) }, (w) => ({
        ...w,
        disks: w.disks.filter((k) => k.target !== disk.target),
      }));
    },
    'vm.convertDisk': (p) => {
      const vm = find(p.vm);
      const d = readable(vm);
      const disk = d.disks.find((k) => k.target === p.target);
      if (!disk) throw new VmdeskError('not-found', `"${vm.name}" has no disk ${p.target}.`, { field: 'target' });
      if (disk.format !== 'raw')
        throw new VmdeskError('invalid-argument', `${disk.target} of "${vm.name}" is qcow2 already.`, {
          field: 'target',
        });
      if (running(vm))
        throw new VmdeskError(
          'invalid-state',
          `"${vm.name}" is ${vm.state}: its disk is converted while it is off. Shut it down first.`,
        );
      const copy = {
        ...disk,
        path: disk.path.replace(/\.(img|raw)$/i, '') + '.qcow2',
        format: 'qcow2' as const,
        owned: true,
      };
      const after = save(vm, { ...d, disks: d.disks.map((k) => (k === disk ? copy : k)) });
      return {
        ...after,
        notice: `${disk.target} is now ${copy.path} (qcow2). The raw file ${disk.path} is kept as it was: delete it once the VM works from the copy.`,
      };
    },
    'vm.resizeDisk': (p) => {
      const vm = find(p.vm);
      const d = readable(vm);
      const disk = d.disks.find((k) => k.target === p.target);
      if (!disk) throw new VmdeskError('not-found', `"${vm.name}" has no disk ${p.target}.`, { field: 'target' });
      const now = sizeOf(disk.path);
      const mib = (n: number) => {
        const m = Math.round(n / 2 ** 20);
        return m >= 1024 && m % 1024 === 0
          ? `${m / 1024} GiB`
          : m >= 1024
            ? `${(m / 1024).toFixed(1)} GiB`
            : `${m} MiB`;
      };
      if (p.sizeBytes <= now)
        throw new VmdeskError(
          'invalid-argument',
          p.sizeBytes === now
            ? `${disk.target} of "${vm.name}" is already ${mib(now)}.`
            : `${disk.target} of "${vm.name}" is ${mib(now)}; shrinking a disk is refused, since it cuts off whatever the guest keeps at its end. Give a size above ${mib(now)}.`,
          { field: 'size' },
        );
      diskSizes.set(disk.path, p.sizeBytes);
      return put(vm);
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
    // A clone as the driver makes it (app/main/vm/clone.ts): a full one copies with progress and
    // can be cancelled; a linked one marks the original's disks read-only.
    'vm.clone': async (p) => {
      const vm = find(p.vm);
      requireState(vm, ['stopped', 'crashed'], 'cloned');
      const def = readable(vm);
      const name = p.name.normalize('NFC');
      const np = vmNameProblem(name);
      if (np) throw new VmdeskError('invalid-argument', np, { field: 'name' });
      if (names().some((n) => sameVmName(n, name)))
        throw new VmdeskError('name-taken', `A VM named "${name}" already exists. Choose another name.`, {
          field: 'name',
        });
      const id = crypto.randomUUID();
      const jobId = p.jobId ?? id;
      if (!p.linked) {
        const totalBytes = def.disks.reduce((n, d) => n + sizeOf(d.path), 0);
        const abort = new AbortController();
        jobs.set(jobId, abort);
        try {
          for (let i = 0; i <= 20; i++) {
            if (abort.signal.aborted)
              throw new VmdeskError(
                'cancelled',
                `Cloning "${vm.name}" as "${name}" was cancelled; nothing of the clone was kept.`,
              );
            const what = `Copying ${def.disks[0]?.target ?? 'the UEFI variables'}`;
            emit('job.progress', { jobId, vm: vm.id, what, doneBytes: (totalBytes * i) / 20, totalBytes });
            await delay(latency * 2);
          }
        } finally {
          jobs.delete(jobId);
        }
      }
      const dir = `/home/ada/.local/share/vmdesk/vms/${id}`;
      const disks = def.disks.map(({ linkedClones: _l, backing: _b, ...d }) => ({
        ...d,
        path: `${dir}/disk${d.target.charCodeAt(2) - 97}.${p.linked || d.format === 'qcow2' ? 'qcow2' : 'img'}`,
        format: p.linked ? ('qcow2' as const) : d.format,
        owned: true,
        ...(p.linked ? { backing: d.path } : {}),
      }));
      if (p.linked && disks.length > 0)
        put({
          ...vm,
          definition: {
            ...def,
            disks: def.disks.map((d) => ({ ...d, linkedClones: [...(d.linkedClones ?? []), id] })),
          },
        });
      return put({
        id,
        name,
        state: 'stopped',
        file: `/home/ada/.config/vmdesk/vms/${id}.json`,
        definition: {
          ...def,
          id,
          name,
          disks,
          network: { ...def.network, forwards: [] },
          mdevs: [],
          createdAt: new Date().toISOString(),
        },
      });
    },
    // Snapshots as the driver keeps them (app/main/vm/snapshots.ts): internal qcow2 snapshots, a
    // live one saved with progress and cancellable, a tree whose current one is where the VM stands.
    'snapshot.list': (p) => snapshotsOf(find(p.vm)),
    'snapshot.create': async (p) => {
      const vm = find(p.vm);
      const def = readable(vm);
      if (!['running', 'paused', 'stopped', 'crashed'].includes(vm.state))
        throw new VmdeskError(
          'invalid-state',
          `"${vm.name}" is ${vm.state}; take a snapshot once it is running, paused or off.`,
          { state: vm.state },
        );
      const withMemory = running(vm);
      if (withMemory && p.diskOnly)
        throw new VmdeskError(
          'invalid-state',
          `"${vm.name}" is ${vm.state}: a snapshot of its disks alone would catch its file systems mid-write. Take one with its memory, or shut it down first.`,
          { field: 'diskOnly' },
        );
      snapshotsAllowed(vm, def, withMemory);
      const list = snapshotsOf(vm);
      const name = p.name.normalize('NFC');
      nameFree(vm, list, name);
      if (withMemory) {
        const jobId = p.jobId ?? crypto.randomUUID();
        const abort = new AbortController();
        jobs.set(jobId, abort);
        try {
          // As the driver reports QEMU's snapshot-save job: steps, not bytes (0 of 1 until it is done).
          for (let i = 0; i <= 10; i++) {
            if (abort.signal.aborted)
              throw new VmdeskError(
                'cancelled',
                `Taking the snapshot "${name}" of "${vm.name}" was cancelled; nothing of it was kept.`,
              );
            emit('job.progress', {
              jobId,
              vm: vm.id,
              what: 'Saving memory and disks',
              doneBytes: i === 10 ? 1 : 0,
              totalBytes: 1,
            });
            await delay(latency * 2);
          }
        } finally {
          jobs.delete(jobId);
        }
      }
      const made: SnapshotInfo = {
        name,
        ...(p.description ? { description: p.description } : {}),
        createdAt: new Date().toISOString(),
        state: withMemory ? (vm.state === 'paused' ? 'paused' : 'running') : 'stopped',
        withMemory,
        parent: list.find((x) => x.current)?.name ?? null,
        current: true,
        ...(withMemory ? { vmStateBytes: Math.round(def.memoryMiB * 0.22) * 2 ** 20 } : {}),
        thumbnail: withMemory && def.display !== 'none',
      };
      setSnapshots(vm, [...list.map((x) => ({ ...x, current: false })), made]);
      return made;
    },
    'snapshot.revert': async (p) => {
      let vm = find(p.vm);
      const to = snapshotNamed(vm, p.name);
      // As the driver's manager does: a VM that is off is started to load the memory into.
      if (to.withMemory && (vm.state === 'stopped' || vm.state === 'crashed'))
        vm = await handlers['vm.start']({ vm: vm.id });
      if (!to.withMemory && running(vm))
        throw new VmdeskError(
          'invalid-state',
          `"${to.name}" holds the disks of "${vm.name}" while it was off, and "${vm.name}" is ${vm.state}. Force it off first, then revert.`,
          { state: vm.state },
        );
      if (to.withMemory) {
        for (let i = 0; i <= 4; i++) {
          if (p.jobId)
            emit('job.progress', {
              jobId: p.jobId,
              vm: vm.id,
              what: 'Loading memory and disks',
              doneBytes: i === 4 ? 1 : 0,
              totalBytes: 1,
            });
          await delay(latency);
        }
      }
      setSnapshots(
        vm,
        snapshotsOf(vm).map((x) => ({ ...x, current: x.name === to.name })),
      );
      const now = find(vm.id);
      return to.withMemory ? setState(now, to.state === 'paused' ? 'paused' : 'running') : now;
    },
    'snapshot.delete': (p) => {
      const vm = find(p.vm);
      const gone = snapshotNamed(vm, p.name);
      const left = snapshotsOf(vm)
        .filter((x) => x.name !== gone.name)
        .map((x) => ({
          ...x,
          parent: x.parent === gone.name ? gone.parent : x.parent,
          current: x.current || (gone.current && x.name === gone.parent),
        }));
      setSnapshots(vm, left);
      return left;
    },
    'snapshot.update': (p) => {
      const vm = find(p.vm);
      const was = snapshotNamed(vm, p.name);
      const list = snapshotsOf(vm);
      const newName = p.newName?.normalize('NFC');
      if (newName !== undefined && newName !== was.name) nameFree(vm, list, newName);
      const name = newName ?? was.name;
      const next = list.map((x) => {
        const y = { ...x, parent: x.parent === was.name ? name : x.parent };
        if (x.name !== was.name) return y;
        const d = p.description ?? x.description;
        const { description: _old, ...rest } = y;
        return { ...rest, name, ...(d ? { description: d } : {}) };
      });
      setSnapshots(vm, next);
      return next.find((x) => x.name === name)!;
    },
    'snapshot.thumbnail': (p) => {
      const vm = find(p.vm);
      const s = snapshotNamed(vm, p.name);
      return { png: s.thumbnail ? fakeScreenPng(`${vm.id}/${s.createdAt}`) : null };
    },
    'job.cancel': (p) => {
      const job = jobs.get(p.jobId);
      job?.abort();
      return { cancelled: !!job };
    },
    'vm.update': (p) => {
      const vm = find(p.vm);
      const d = vm.definition;
      if (!d) throw new VmdeskError('vm-broken', `"${vm.name}" cannot be read, so its settings cannot be changed.`);
      if (p.revision !== undefined && p.revision !== vm.revision)
        throw new VmdeskError(
          'invalid-state',
          `"${vm.name}" was changed since you opened it (in another window or in its file). Look at it again and make your change once more.`,
          { field: 'revision' },
        );
      const bad = (field: string, message: string) => new VmdeskError('invalid-argument', message, { field });
      if (p.name !== undefined) {
        const np = vmNameProblem(p.name);
        if (np) throw bad('name', np);
        if ([...vms.values()].some((v) => v.id !== vm.id && sameVmName(v.name, p.name!)))
          throw new VmdeskError('name-taken', `A VM named "${p.name}" already exists. Choose another name.`, {
            field: 'name',
          });
      }
      // The demo host: 32 GiB of memory, 16 CPU threads.
      if (p.memoryMiB !== undefined && p.memoryMiB < 16)
        throw bad('memory', 'Memory must be at least 16 MiB (e.g. --memory 1G).');
      if (p.memoryMiB !== undefined && p.memoryMiB > 32768)
        throw bad(
          'memory',
          `${p.memoryMiB} MiB is more memory than this computer has (32768 MiB). Give the VM at most 32768 MiB.`,
        );
      if (p.cpus !== undefined && p.cpus > 16)
        throw bad('cpus', `This computer has 16 CPU threads; a VM can have at most 16 CPUs, not ${p.cpus}.`);
      if (p.firmware === 'bios' && d.arch === 'aarch64')
        throw bad('firmware', 'An aarch64 VM always boots UEFI: there is no BIOS for it.');
      const cdroms =
        p.cdromDrives === undefined
          ? d.cdroms
          : p.cdromDrives <= d.cdroms.length
            ? d.cdroms.slice(0, p.cdromDrives)
            : [...d.cdroms, ...Array<null>(p.cdromDrives - d.cdroms.length).fill(null)];
      const network = p.network ?? d.network.mode;
      const usable = (b: string) => (b === 'cdrom' ? cdroms.length > 0 : b === 'network' ? network === 'user' : true);
      const badBoot = p.boot?.find((b) => !usable(b));
      if (badBoot)
        throw bad(
          'boot',
          badBoot === 'cdrom'
            ? `"${d.name}" has no CD-ROM drive to boot from. Add a drive first, or leave cdrom out of the boot order.`
            : `"${d.name}" has no network to boot from. Turn its network on first, or leave network out of the boot order.`,
        );
      const kept = d.boot.filter(usable);
      // As the driver (app/main/vm/settings.ts applySettings): BIOS takes Secure Boot off with it;
      // Secure Boot needs UEFI and x86_64; SATA takes six disks.
      const firmware = p.firmware ?? d.firmware;
      if (p.secureBoot && firmware !== 'uefi')
        throw bad(
          'secureBoot',
          `Secure Boot is part of UEFI, and "${d.name}" boots with BIOS. Switch it to UEFI as well (an OS installed with BIOS will not boot that way).`,
        );
      if (p.secureBoot && d.arch === 'aarch64')
        throw bad(
          'secureBoot',
          'vmdesk offers Secure Boot for x86_64 VMs only (no aarch64 firmware ships with keys enrolled).',
        );
      const devices = { disk: p.diskBus ?? d.devices.disk, nic: p.nic ?? d.devices.nic };
      if (devices.disk === 'sata' && d.disks.length > 6)
        throw bad(
          'diskBus',
          `"${d.name}" has ${d.disks.length} disks, and SATA takes at most 6. Remove disks first, or keep virtio.`,
        );
      const def: VmDefinition = {
        ...d,
        name: p.name ?? d.name,
        memoryMiB: p.memoryMiB ?? d.memoryMiB,
        cpus: p.cpus ?? d.cpus,
        boot: p.boot ?? (kept.length > 0 ? kept : ['disk']),
        firmware,
        secureBoot: p.secureBoot ?? (p.firmware === 'bios' ? false : d.secureBoot),
        tpm: p.tpm ?? d.tpm,
        devices,
        clock: p.clock ?? d.clock,
        hyperv: p.hyperv ?? d.hyperv,
        display: p.display ?? d.display,
        accel: p.accel ?? d.accel,
        network: { ...d.network, mode: network },
        cdroms,
        shares: p.shares?.map((x) => ({ ...x, readOnly: x.readOnly ?? false })) ?? d.shares,
        sound: p.sound ?? d.sound,
        clipboard: p.clipboard ?? d.clipboard,
        usb: p.usb ?? d.usb,
        ...((p.autostart ?? d.autostart) ? { autostart: true } : {}),
      };
      if (def.usb.length > 0 && def.display === 'none')
        throw bad(
          'usb',
          `"${d.name}" has no display, and so no USB controller: give it a display to plug in USB devices.`,
        );
      const done = save(vm, def);
      // As the driver warns (app/main/vm/define-vm.ts memoryNotice), against the demo's 32 GiB.
      const notice =
        p.memoryMiB !== undefined && p.memoryMiB !== d.memoryMiB && p.memoryMiB > 32768 * 0.8
          ? `${p.memoryMiB} MiB is ${Math.round((p.memoryMiB / 32768) * 100)} % of this host's 32 GiB of memory: the host may swap or kill programs once the guest uses it all. Give it at most 25.6 GiB to be safe.`
          : undefined;
      return notice ? { ...done, notice } : done;
    },
  };

  /** What differs between what QEMU started with and the stored definition, in the driver's words
   * (app/main/vm/settings.ts settingsDiff). */
  function pendingLines(was: VmDefinition, def: VmDefinition): string[] {
    const mib = (n: number) => (n >= 1024 && n % 1024 === 0 ? `${n / 1024} GiB` : `${n} MiB`);
    const words = { disk: 'disk', cdrom: 'CD-ROM', network: 'network' };
    const order = (b: VmDefinition['boot']) => b.map((x) => words[x]).join(', then ');
    const base = (f: string | null) => (f ? f.split('/').pop()! : 'empty');
    const out: string[] = [];
    if (was.memoryMiB !== def.memoryMiB) out.push(`Memory: ${mib(was.memoryMiB)} → ${mib(def.memoryMiB)}`);
    if (was.cpus !== def.cpus) out.push(`CPUs: ${was.cpus} → ${def.cpus}`);
    if (was.boot.join() !== def.boot.join()) out.push(`Boot order: ${order(was.boot)} → ${order(def.boot)}`);
    if (was.firmware !== def.firmware) out.push(`Firmware: ${was.firmware} → ${def.firmware}`);
    if (was.display !== def.display) out.push(`Display: ${was.display} → ${def.display}`);
    if (was.accel !== def.accel) out.push(`Accelerator: ${was.accel} → ${def.accel}`);
    if (was.network.mode !== def.network.mode) out.push(`Network: ${was.network.mode} → ${def.network.mode}`);
    const onOff = (b: boolean) => (b ? 'on' : 'off');
    if (was.secureBoot !== def.secureBoot) out.push(`Secure Boot: ${onOff(was.secureBoot)} → ${onOff(def.secureBoot)}`);
    if (was.tpm !== def.tpm) out.push(`TPM: ${onOff(was.tpm)} → ${onOff(def.tpm)}`);
    if (was.devices.disk !== def.devices.disk) out.push(`Disk bus: ${was.devices.disk} → ${def.devices.disk}`);
    if (was.devices.nic !== def.devices.nic) out.push(`Network card: ${was.devices.nic} → ${def.devices.nic}`);
    if (was.clock !== def.clock) out.push(`Clock: ${was.clock} → ${def.clock}`);
    if (was.hyperv !== def.hyperv) out.push(`Hyper-V enlightenments: ${onOff(was.hyperv)} → ${onOff(def.hyperv)}`);
    if (was.sound !== def.sound) out.push(`Sound: ${onOff(was.sound)} → ${onOff(def.sound)}`);
    if (was.clipboard !== def.clipboard)
      out.push(`Shared clipboard: ${onOff(was.clipboard)} → ${onOff(def.clipboard)}`);
    const ids = (us: VmDefinition['usb']) => us.map((u) => `${u.vendorId}:${u.productId}`).join(', ') || 'none';
    if (ids(was.usb) !== ids(def.usb)) out.push(`USB devices: ${ids(was.usb)} → ${ids(def.usb)}`);
    const tags = (ss: VmDefinition['shares']) =>
      ss.map((x) => `${x.tag}${x.readOnly ? ' (read-only)' : ''}`).join(', ') || 'none';
    if (JSON.stringify(was.shares) !== JSON.stringify(def.shares))
      out.push(`Shared folders: ${tags(was.shares)} → ${tags(def.shares)}`);
    if (was.cdroms.length !== def.cdroms.length) out.push(`CD-ROM drives: ${was.cdroms.length} → ${def.cdroms.length}`);
    for (let i = 0; i < Math.min(was.cdroms.length, def.cdroms.length); i++)
      if (was.cdroms[i] !== def.cdroms[i])
        out.push(`CD-ROM ${i + 1}: ${base(was.cdroms[i]!)} → ${base(def.cdroms[i]!)}`);
    const before = new Map(was.disks.map((k) => [k.target, k]));
    const after = new Map(def.disks.map((k) => [k.target, k]));
    for (const [t, k] of after) if (before.get(t)?.path !== k.path) out.push(`Disk ${t}: added ${base(k.path)}`);
    for (const [t, k] of before) if (after.get(t)?.path !== k.path) out.push(`Disk ${t}: removed ${base(k.path)}`);
    return out;
  }

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
      if (name === 'log.tail' && vm.host)
        return server.end(`libvirt keeps the logs of "${vm.name}" on ${vm.host.label}.`, STREAM_CLOSE.refused);
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
      const ref = (params as { vm?: unknown }).vm;
      const target = typeof ref === 'string' ? vms.get(ref) : undefined;
      if (target) hostConns.refuseUnsupported(method, target);
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
