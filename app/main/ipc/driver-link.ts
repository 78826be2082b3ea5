/**
 * How any vmdesk process reaches the driver: it becomes the owner (takes the lock in the config
 * dir, loads and adopts the VMs, serves the control socket), or, when another process owns the
 * VMs, it talks to that owner over its control socket. Either way the caller gets one DriverLink.
 */
import { performance } from 'node:perf_hooks';
import type net from 'node:net';
import type {
  CallName,
  CallParams,
  CallResults,
  ContractEvents,
  EventName,
  StreamName,
  StreamParams,
} from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import { ensureBaseDirs, ensureRuntimeDir, type AppPaths } from '../paths/app-paths.js';
import { assertSocketPathFits, driverFiles } from '../paths/vm-files.js';
import type { NativeHost } from '../../native/index.js';
import { VmManager, type VmManagerOptions } from '../vm/vm-manager.js';
import type { RealHostServices } from '../vm/host-adapter.js';
import { tryAcquireOwnerLock, type OwnerInfo } from '../vm/owner-lock.js';
import { managerAutostartDriver, runAutostart } from '../vm/autostart.js';
import { ControlClient, openControlStream } from './control-client.js';
import { listenControlSocket, PUSHED_EVENTS, type ControlServer } from './control-socket.js';
import { createDispatcher, managerHandlers, type Dispatcher } from './dispatcher.js';
import { managerStreams, type StreamOpener } from './streams.js';
import { ByteChannel, STREAM_BUDGET_BYTES, type ByteStream } from '../consoles/byte-channel.js';
import type { MdevService } from '../mdev/service.js';

export interface DriverLink {
  readonly mode: 'owner' | 'client';
  /** The owning process (ourselves in owner mode). */
  readonly owner: OwnerInfo;
  call<C extends CallName>(method: C, params: CallParams<C>): Promise<CallResults[C]>;
  subscribe(listener: <E extends EventName>(name: E, data: ContractEvents[E]) => void): Promise<() => void>;
  /** Its output holds bytes until the caller attaches a reader (within the stream's budget). */
  openStream<S extends StreamName>(name: S, params: StreamParams<S>): Promise<ByteStream>;
  /** Owner: stop serving and release the lock; VMs keep running. Client: disconnect. */
  close(): Promise<void>;
  /** Present in owner mode. */
  readonly manager?: VmManager;
}

export interface OpenDriverOptions {
  paths: AppPaths;
  kind: OwnerInfo['kind'];
  host: RealHostServices;
  native: NativeHost;
  managerOptions?: Omit<VmManagerOptions, 'paths' | 'host'>;
  /** The directory of the running program's files, from its entry point (see locateHelper). */
  programDir: string | undefined;
  /** When a short-lived owner (another CLI command) holds the lock, wait this long for it
   * (a long-lived owner that does not answer gets 3 s). */
  waitForCliOwnerMs?: number;
}

/**
 * The driver's mdev service: no terminal, so pkexec asks through the desktop's polkit agent.
 * Loaded at its first call (vGPUs are rare; a CLI command that becomes the driver for a moment
 * never needs the service, the privileged helper's code or the PCI names): every method is async,
 * so the caller sees no difference.
 */
export function driverMdevService(
  manager: VmManager,
  host: Pick<RealHostServices, 'qemuCaps'>,
  native: NativeHost,
  programDir: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): MdevService {
  let loaded: Promise<MdevService> | undefined;
  const service = () =>
    (loaded ??= Promise.all([import('../mdev/service.js'), import('../mdev/privileged.js')])
      .catch((err: unknown) => {
        loaded = undefined; // a failed load is tried again by the next call
        throw err;
      })
      .then(([{ createMdevService }, { agentRunner, findPkexec, helperTrustProblem, locateHelper }]) =>
        createMdevService({
          env,
          native,
          listVms: async () => manager.list(),
          getVm: async (ref) => manager.get(ref),
          qemuCaps: (arch) => host.qemuCaps(arch),
          updateMdevs: (ref, change) => manager.updateMdevs(ref, change),
          privileged: () => ({
            helper: locateHelper(programDir, env),
            pkexec: findPkexec(undefined, env),
            run: agentRunner,
            trust: helperTrustProblem,
          }),
        }),
      ));
  return {
    inventory: async () => (await service()).inventory(),
    types: async (parent) => (await service()).types(parent),
    check: async (vmRef, proposal) => (await service()).check(vmRef, proposal),
    create: async (req) => (await service()).create(req),
    remove: async (req) => (await service()).remove(req),
    applyFixes: async (vmRef, proposal, options) => (await service()).applyFixes(vmRef, proposal, options),
    applyActions: async (actions, options) => (await service()).applyActions(actions, options),
    assign: async (vmRef, req) => (await service()).assign(vmRef, req),
    unassign: async (vmRef, uuid) => (await service()).unassign(vmRef, uuid),
  };
}

export async function openDriver(o: OpenDriverOptions): Promise<DriverLink> {
  ensureBaseDirs(o.paths);
  ensureRuntimeDir(o.paths.runtime, process.getuid?.() ?? 0);
  const files = driverFiles(o.paths);
  assertSocketPathFits(files.controlSocket, o.paths.platform);
  // Monotonic: a wall-clock jump must not stretch or cut the wait.
  const started = performance.now();
  for (;;) {
    const r = tryAcquireOwnerLock(files.lock, { kind: o.kind, controlSocket: files.controlSocket }, o.native);
    if (r.owned) {
      try {
        const manager = new VmManager(o.paths, o.host, o.managerOptions);
        // Probe the host while the VMs load: the first start then finds the caps ready.
        o.host.report().catch(() => undefined);
        await manager.init();
        const dispatcher = createDispatcher(
          managerHandlers(manager, () => o.host.report(), driverMdevService(manager, o.host, o.native, o.programDir)),
          // A line per call: debug, so the `logLevel` setting `info` leaves them out.
          (line) => manager.driverLog.write(line, 'debug'),
        );
        const streams = managerStreams(manager);
        // A long-lived owner (the window, `vmdesk web`, `vmdesk driver`) connects the libvirt hosts
        // the user asked to keep, in the background; a CLI command only the one it is given.
        if (o.kind !== 'cli') void manager.hosts.connectRemembered();
        const server = await listenControlSocket(files.controlSocket, dispatcher, manager.events, streams, () =>
          ensureRuntimeDir(o.paths.runtime, process.getuid?.() ?? 0),
        );
        // Once per login session, the long-lived owner starts the VMs flagged "Start with vmdesk"
        // (vm/autostart.ts), after it listens: windows and the CLI see them starting.
        if (o.kind !== 'cli')
          void runAutostart(o.paths.runtime, managerAutostartDriver(manager)).catch((err: unknown) =>
            manager.driverLog.write(`autostart failed: ${(err as Error).message}`),
          );
        return ownerLink(r.lock.info, manager, dispatcher, streams, server, () => r.lock.release());
      } catch (err) {
        r.lock.release();
        throw err;
      }
    }
    const owner = r.owner;
    if (owner) {
      try {
        const client = await ControlClient.connect(owner.controlSocket);
        return clientLink(owner, client);
      } catch {
        // fall through: the owner may be a CLI command that is just finishing
      }
    }
    // An owner that just took the lock may still be loading its VMs before it listens; a CLI
    // command that owns the VMs will be done soon. Give either a moment, then say who is stuck.
    const patience = owner?.kind === 'cli' || !owner ? (o.waitForCliOwnerMs ?? 10_000) : 3_000;
    if (performance.now() - started > patience) {
      const who = owner ? `vmdesk process ${owner.pid} (${owner.kind})` : 'another vmdesk process';
      throw new VmdeskError(
        'owner-elsewhere',
        `The VMs in ${o.paths.config} are managed by ${who}, but its control socket ${owner?.controlSocket ?? '(unknown)'} does not answer. ` +
          'Run vmdesk with the same XDG_RUNTIME_DIR as that process, or quit it, then try again.',
        owner ? { owner } : undefined,
      );
    }
    await new Promise((res) => setTimeout(res, 50));
  }
}

function ownerLink(
  owner: OwnerInfo,
  manager: VmManager,
  dispatcher: Dispatcher,
  streams: StreamOpener,
  server: ControlServer,
  release: () => void,
): DriverLink {
  return {
    mode: 'owner',
    owner,
    manager,
    async call(method, params) {
      const r = await dispatcher.dispatch(method, params);
      if (!r.ok) throw VmdeskError.fromJSON(r.error);
      return r.result as CallResults[typeof method];
    },
    async subscribe(listener) {
      const offs = PUSHED_EVENTS.map((n) => manager.events.on(n, (d) => listener(n, d)));
      return () => offs.forEach((off) => off());
    },
    async openStream(name, params) {
      return streams(name, params);
    },
    async close() {
      await server.close();
      await manager.detachAll();
      release();
    },
  };
}

function clientLink(owner: OwnerInfo, client: ControlClient): DriverLink {
  return {
    mode: 'client',
    owner,
    call: (method, params) => client.call(method, params),
    subscribe: (listener) => client.subscribe(listener),
    async openStream(name, params) {
      const sock: net.Socket = await openControlStream(client.socketPath, name, params);
      // The owner's stream applies its own policy (drop a slow console, pause VNC); here, a reader
      // that falls behind pauses this socket, which backs up into the owner's stream.
      const output = new ByteChannel({ budgetBytes: STREAM_BUDGET_BYTES, overflow: { kind: 'pause', source: sock } });
      let closed = false;
      sock.on('data', (c: Buffer) => {
        output.push(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
      });
      sock.on('close', () => output.end('The connection to the driver closed.'));
      sock.resume();
      return {
        output,
        // Toward the owner: full when the socket says so, drained on its 'drain'.
        input: (d) => (sock.destroyed ? true : sock.write(d)),
        onInputDrain: (listener) => {
          sock.on('drain', listener);
        },
        close: () => {
          if (closed) return;
          closed = true;
          output.dispose();
          sock.destroy();
        },
      };
    },
    async close() {
      client.close();
    },
  };
}
