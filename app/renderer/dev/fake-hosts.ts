/**
 * The demo's libvirt connections (`#demo`): qemu:///system connected with two domains, a server
 * over SSH that cannot be reached. Connecting to any other URI works after a short "connecting"
 * (qemu+ssh to a host named like `down` or `unreachable` fails with libvirt's SSH words). The
 * real behaviour is the driver's (app/main/libvirt); the e2e test drives the UI against that.
 */
import { libvirtUriProblem, type HostConnection, type VmHost } from '../../main/common/connection-types.js';
import type { CallName, CallParams, CallResults, ContractEvents, EventName } from '../../main/common/contract.js';
import { VmdeskError } from '../../main/common/errors.js';
import type { VmSummary } from '../../main/common/vm-types.js';
import { sampleConnections, sampleLibvirtVms } from './fake-data.js';

type Emit = <E extends EventName>(name: E, data: ContractEvents[E]) => void;
type HostCalls = 'host.connections' | 'host.connect' | 'host.disconnect' | 'vm.exportXml' | 'vm.importXml';
type Handlers = { [C in HostCalls]: (p: CallParams<C>) => Promise<CallResults[C]> | CallResults[C] };

/** What a VM of a libvirt host supports (the rest is refused with `unsupported`, as the driver does). */
const LIBVIRT_CALLS: ReadonlySet<CallName> = new Set<CallName>([
  'vm.get',
  'vm.thumbnail',
  'vm.start',
  'vm.shutdown',
  'vm.stop',
  'vm.reboot',
  'vm.pause',
  'vm.resume',
  'vm.delete',
  'snapshot.list',
  'snapshot.create',
  'snapshot.revert',
  'snapshot.delete',
  'job.cancel',
]);

export interface FakeHosts {
  handlers: Handlers;
  /** The VMs of connected libvirt hosts at the start (the demo's qemu:///system domains). */
  initialVms(): VmSummary[];
  /** Throws `unsupported` for a call libvirt VMs do not have. */
  refuseUnsupported(method: CallName, vm: VmSummary): void;
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `lv-` and 8 hex digits of the URI (FNV-1a), like the driver's ids. */
function idOf(uri: string): string {
  let h = 0x811c9dc5;
  for (const c of uri) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return `lv-${h.toString(16).padStart(8, '0')}`;
}

/** "root@server (system)" for qemu+ssh://root@server/system; the URI itself for local ones. */
function labelOf(uri: string): string {
  const m = /^[a-z0-9+]+:\/\/([^/]+)\/(\w+)/.exec(uri);
  return m ? `${m[1]} (${m[2]})` : uri;
}

export function createFakeHosts(deps: {
  vms: Map<string, VmSummary>;
  emit: Emit;
  put(vm: VmSummary): VmSummary;
  latencyMs: number;
  /** Only this computer (the `#demo-empty` page). */
  empty?: boolean;
}): FakeHosts {
  const hosts = new Map<string, HostConnection>(
    sampleConnections()
      .filter((h) => !deps.empty || h.kind === 'local')
      .map((h) => [h.id, h]),
  );
  /** Domains of hosts that are not connected now, to come back when they are. */
  const parked = new Map<string, VmSummary[]>();
  const change = (h: HostConnection) => {
    hosts.set(h.id, h);
    deps.emit('host.connectionChanged', structuredClone(h));
    return h;
  };
  const vmsOf = (id: string) => [...deps.vms.values()].filter((v) => v.host?.id === id);
  const takeDown = (id: string) => {
    const gone = vmsOf(id);
    if (gone.length > 0) parked.set(id, gone);
    for (const vm of gone) {
      deps.vms.delete(vm.id);
      deps.emit('vm.removed', { id: vm.id });
    }
  };
  const find = (ref: string) => hosts.get(ref) ?? [...hosts.values()].find((h) => h.uri === ref) ?? undefined;

  const handlers: Handlers = {
    'host.connections': () => [...hosts.values()],
    'host.connect': async (p) => {
      const problem = libvirtUriProblem(p.uri);
      if (problem) throw new VmdeskError('invalid-argument', problem, { field: 'uri' });
      const was = find(p.uri);
      if (was?.state === 'connected') return was;
      const id = was?.id ?? idOf(p.uri);
      const base: HostConnection = {
        id,
        uri: p.uri,
        label: was?.label ?? labelOf(p.uri),
        kind: 'libvirt',
        state: 'connecting',
        remembered: p.remember ?? was?.remembered ?? false,
      };
      change(base);
      await delay(deps.latencyMs * 6);
      const host = /^qemu\+ssh:\/\/(?:[^@/]*@)?([^/:]+)/.exec(p.uri)?.[1];
      if (host && /down|unreachable|build-server/.test(host)) {
        const error = `Cannot recv data: ssh: connect to host ${host} port 22: No route to host: Connection reset by peer`;
        const fix = `Check that ${host} is up and that \`ssh ${host}\` works from this computer, then reconnect.`;
        change({ ...base, state: 'error', error, fix });
        throw new VmdeskError('unsupported', `${error}. ${fix}`, { uri: p.uri });
      }
      const connected = change({
        ...base,
        state: 'connected',
        hypervisor: { hostname: host ?? 'ada-laptop', libvirtVersion: '9.0.0' },
      });
      for (const vm of parked.get(id) ?? []) deps.put(vm);
      parked.delete(id);
      return connected;
    },
    'host.disconnect': (p) => {
      const h = find(p.connection);
      if (!h || h.kind === 'local')
        throw new VmdeskError(
          'not-found',
          h
            ? 'This computer’s VMs are always shown: there is nothing to disconnect.'
            : `There is no connection "${p.connection}".`,
        );
      takeDown(h.id);
      if (p.forget || !h.remembered) {
        hosts.delete(h.id);
        parked.delete(h.id);
        deps.emit('host.connectionChanged', { ...h, removed: true });
      } else {
        const { error: _e, fix: _f, ...rest } = h;
        change({ ...rest, state: 'disconnected' });
      }
      return [...hosts.values()];
    },
    'vm.exportXml': (p) => {
      const vm = deps.vms.get(p.vm);
      return { xml: `<domain type='kvm'>\n  <name>${vm?.name ?? p.vm}</name>\n</domain>\n`, notes: [] };
    },
    'vm.importXml': () => {
      throw new VmdeskError('unsupported', 'The demo does not import domain XML. Use `vmdesk import FILE.xml`.');
    },
  };

  return {
    handlers,
    initialVms: () => (deps.empty ? [] : sampleLibvirtVms()),
    refuseUnsupported(method, vm) {
      if (!vm.host || LIBVIRT_CALLS.has(method)) return;
      const h: VmHost = vm.host;
      throw new VmdeskError(
        'unsupported',
        `"${vm.name}" is managed by libvirt on ${h.label}: vmdesk does not do ${method} for it. Change it with virsh -c ${h.uri} edit ${h.domain}.`,
      );
    },
  };
}
