/**
 * libvirt's own client library (libvirt.so.0) through koffi, behind a typed facade: vmdesk never
 * speaks libvirt's RPC itself. koffi's types stay in this file.
 *
 * Threads. libvirt's calls block (a remote call waits for its host), so every call that may talk
 * to a daemon runs through koffi's `.async` on a worker thread and Node never waits. libvirt's
 * default event loop (domain events, keepalives, console streams) runs the same way, one
 * `virEventRunDefaultImpl` after another; a 250 ms timer with a native no-op callback makes each
 * iteration return at least that often, so the process can always exit. libvirt calls our
 * callbacks (events, errors) from those threads; koffi runs them on the main thread while the
 * calling thread waits, so a callback only copies what it is given (never calls libvirt back
 * over the network) and hands the rest to the event loop with setImmediate.
 *
 * Errors. libvirt keeps the last error per thread, which JS cannot read after an `.async` call;
 * each connection instead gets its own error handler (virConnSetErrorFunc), and calls on one
 * connection run one at a time, so the error a handler sees belongs to the call that failed.
 * Opening a connection uses the global handler; opens run one at a time.
 */
import { createRequire } from 'node:module';
import type * as KoffiModule from 'koffi';

type Koffi = typeof KoffiModule;
type Fn = ((...args: unknown[]) => unknown) & { async: (...args: unknown[]) => void };
/** A C pointer as koffi hands it over (a BigInt or an External); null for NULL. */
type Ptr = unknown;

/** An error libvirt reported: its message, and its numbers (virErrorNumber, virErrorDomain). */
export class LibvirtError extends Error {
  override readonly name = 'LibvirtError';
  constructor(
    message: string,
    readonly code: number,
    readonly domain: number,
  ) {
    super(message);
  }
}

/** virErrorNumber values vmdesk reacts to. */
export const VIR_ERR = {
  NO_SUPPORT: 3,
  NO_CONNECT: 5,
  OPERATION_FAILED: 9,
  AUTH_FAILED: 45,
  NO_DOMAIN: 42,
  OPERATION_INVALID: 55,
  NO_DOMAIN_SNAPSHOT: 72,
  AUTH_CANCELLED: 79,
  OPERATION_DENIED: 29,
  OPERATION_TIMEOUT: 68,
  ACCESS_DENIED: 88,
  SYSTEM_ERROR: 38,
  RPC: 39,
} as const;

/** virDomainState. */
export const DOMAIN_STATE = {
  NOSTATE: 0,
  RUNNING: 1,
  BLOCKED: 2,
  PAUSED: 3,
  SHUTDOWN: 4,
  SHUTOFF: 5,
  CRASHED: 6,
  PMSUSPENDED: 7,
} as const;

/** virDomainEventType (a lifecycle event's `event`). */
export const DOMAIN_EVENT = {
  DEFINED: 0,
  UNDEFINED: 1,
  STARTED: 2,
  SUSPENDED: 3,
  RESUMED: 4,
  STOPPED: 5,
  SHUTDOWN: 6,
  PMSUSPENDED: 7,
  CRASHED: 8,
} as const;

export interface DomainInfo {
  uuid: string;
  name: string;
  /** virDomainState and its reason. */
  state: number;
  reason: number;
  persistent: boolean;
}

export interface SnapshotEntry {
  name: string;
  xml: string;
  current: boolean;
}

export type DomainOp = 'start' | 'shutdown' | 'destroy' | 'reboot' | 'suspend' | 'resume';

/** A console stream of a domain: bytes from the guest's serial port, keystrokes back. */
export interface ConsoleStream {
  /** Called with each chunk from the guest, and once with `end` when the stream ends. */
  onData(listener: (chunk: Uint8Array) => void): void;
  onEnd(listener: (reason: string) => void): void;
  /** Queues bytes for the guest; false while more than 64 KiB wait (the guest is not reading). */
  write(data: Uint8Array): boolean;
  /** Told when the queue is empty again after `write` said false. */
  onDrain(listener: () => void): void;
  close(): void;
}

export interface LibvirtConnection {
  readonly uri: string;
  hostname(): Promise<string>;
  /** The library version of the daemon, as "9.0.0". */
  libVersion(): Promise<string>;
  domains(): Promise<DomainInfo[]>;
  /** By UUID or name. */
  domain(ref: string): Promise<DomainInfo>;
  domainXml(uuid: string, opts?: { inactive?: boolean }): Promise<string>;
  lifecycle(uuid: string, op: DomainOp): Promise<void>;
  /** Undefines a stopped domain with its snapshot metadata, managed save and NVRAM. */
  undefine(uuid: string): Promise<void>;
  snapshots(uuid: string): Promise<SnapshotEntry[]>;
  /** Creates a snapshot from its XML; returns its name. `diskOnly`: VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY. */
  snapshotCreate(uuid: string, xml: string): Promise<string>;
  snapshotRevert(uuid: string, name: string): Promise<void>;
  snapshotDelete(uuid: string, name: string): Promise<void>;
  openConsole(uuid: string): Promise<ConsoleStream>;
  /** Lifecycle events of every domain (virConnectDomainEventRegisterAny, LIFECYCLE). */
  onDomainEvent(listener: (uuid: string, event: number, detail: number) => void): void;
  /** The connection dropped (the host went away, keepalive timed out): why, in a few words. */
  onClosed(listener: (reason: string) => void): void;
  close(): Promise<void>;
}

export interface LibvirtClient {
  /** The library's own version ("9.0.0"). */
  readonly version: string;
  open(uri: string): Promise<LibvirtConnection>;
}

/** libvirt's client library, or why it cannot be used here. Never throws. */
export type LibvirtLoad = { ok: true; client: LibvirtClient } | { ok: false; reason: string };

let loaded: LibvirtLoad | undefined;

/** The process's one libvirt client (libvirt's event loop is process-wide), loaded on first use. */
export function loadLibvirt(): LibvirtLoad {
  loaded ??= tryLoad();
  return loaded;
}

function requireKoffi(): Koffi {
  // As in koffi-native.ts: this module's URL in the sources, the bundle's in a bundle.
  return createRequire(import.meta.url)('koffi') as Koffi;
}

const LIBRARY_NAMES: Partial<Record<NodeJS.Platform, string[]>> = {
  linux: ['libvirt.so.0'],
  darwin: ['/opt/homebrew/lib/libvirt.dylib', '/usr/local/lib/libvirt.dylib', 'libvirt.dylib'],
  freebsd: ['libvirt.so.0', '/usr/local/lib/libvirt.so'],
};
const INSTALL_HINT: Partial<Record<NodeJS.Platform, string>> = {
  linux: 'install libvirt-clients (Debian, Ubuntu) or libvirt-client (Fedora)',
  darwin: 'install it with `brew install libvirt`',
};

function tryLoad(): LibvirtLoad {
  if (process.env['VMDESK_LIBVIRT'] === 'off')
    return { ok: false, reason: 'libvirt connections are turned off (VMDESK_LIBVIRT=off).' };
  let koffi: Koffi;
  try {
    koffi = requireKoffi();
  } catch (err) {
    return { ok: false, reason: `koffi, which loads libvirt's library, could not load: ${(err as Error).message}` };
  }
  const names = LIBRARY_NAMES[process.platform] ?? ['libvirt.so.0'];
  let lib: KoffiModule.LibraryHandle | undefined;
  for (const name of names) {
    try {
      lib = koffi.load(name);
      break;
    } catch {
      // the next name
    }
  }
  if (!lib)
    return {
      ok: false,
      reason: `libvirt's client library is not installed on this computer (${names[0]}): ${INSTALL_HINT[process.platform] ?? 'install libvirt'} to manage libvirt hosts. Local VMs work without it.`,
    };
  try {
    return { ok: true, client: bind(koffi, lib) };
  } catch (err) {
    return { ok: false, reason: `libvirt's client library could not be used: ${(err as Error).message}` };
  }
}

const NONBLOCK = 1;
const STREAM_READABLE = 1;
const STREAM_WRITABLE = 2;
const STREAM_ERROR = 4;
const STREAM_HANGUP = 8;
const INPUT_HIGH_WATER = 64 * 1024;

function bind(koffi: Koffi, lib: KoffiModule.LibraryHandle): LibvirtClient {
  const fn = (decl: string) => lib.func(decl) as unknown as Fn;
  const libc = koffi.load(process.platform === 'darwin' ? '/usr/lib/libSystem.B.dylib' : 'libc.so.6');
  const free = libc.func('void free(void *p)') as unknown as Fn;
  const dlopen = libc.func('void *dlopen(const char *path, int mode)') as unknown as Fn;
  const dlsym = libc.func('void *dlsym(void *h, const char *name)') as unknown as Fn;

  const virError = koffi.struct('vmdesk_virError', {
    code: 'int',
    domain: 'int',
    message: 'char *',
    level: 'int',
    conn: 'void *',
    dom: 'void *',
    str1: 'char *',
    str2: 'char *',
    str3: 'char *',
    int1: 'int',
    int2: 'int',
    net: 'void *',
  });
  const ErrorFunc = koffi.proto('void vmdesk_virErrorFunc(void *userData, void *err)');
  const LifecycleCb = koffi.proto(
    'void vmdesk_virLifecycleCb(void *conn, void *dom, int event, int detail, void *opaque)',
  );
  const CloseCb = koffi.proto('void vmdesk_virCloseCb(void *conn, int reason, void *opaque)');
  const StreamCb = koffi.proto('void vmdesk_virStreamCb(void *st, int events, void *opaque)');

  const c = {
    initialize: fn('int virInitialize()'),
    getVersion: fn('int virGetVersion(_Out_ unsigned long *lib, const char *type, _Out_ unsigned long *hv)'),
    eventRegisterDefaultImpl: fn('int virEventRegisterDefaultImpl()'),
    eventRunDefaultImpl: fn('int virEventRunDefaultImpl()'),
    eventAddTimeout: fn('int virEventAddTimeout(int ms, void *cb, void *opaque, void *ff)'),
    setErrorFunc: fn('void virSetErrorFunc(void *userData, vmdesk_virErrorFunc *handler)'),
    connSetErrorFunc: fn('void virConnSetErrorFunc(void *conn, void *userData, vmdesk_virErrorFunc *handler)'),
    open: fn('void *virConnectOpen(const char *uri)'),
    close: fn('int virConnectClose(void *conn)'),
    setKeepAlive: fn('int virConnectSetKeepAlive(void *conn, int interval, unsigned int count)'),
    getHostname: fn('void *virConnectGetHostname(void *conn)'),
    getLibVersion: fn('int virConnectGetLibVersion(void *conn, _Out_ unsigned long *v)'),
    listAllDomains: fn('int virConnectListAllDomains(void *conn, _Out_ void **doms, unsigned int flags)'),
    lookupByUuid: fn('void *virDomainLookupByUUIDString(void *conn, const char *uuid)'),
    lookupByName: fn('void *virDomainLookupByName(void *conn, const char *name)'),
    domainFree: fn('int virDomainFree(void *dom)'),
    domainName: fn('const char *virDomainGetName(void *dom)'),
    domainUuid: fn('int virDomainGetUUIDString(void *dom, _Out_ uint8_t *buf)'),
    domainState: fn('int virDomainGetState(void *dom, _Out_ int *state, _Out_ int *reason, unsigned int flags)'),
    domainIsPersistent: fn('int virDomainIsPersistent(void *dom)'),
    domainXml: fn('void *virDomainGetXMLDesc(void *dom, unsigned int flags)'),
    create: fn('int virDomainCreate(void *dom)'),
    shutdown: fn('int virDomainShutdown(void *dom)'),
    destroy: fn('int virDomainDestroy(void *dom)'),
    reboot: fn('int virDomainReboot(void *dom, unsigned int flags)'),
    suspend: fn('int virDomainSuspend(void *dom)'),
    resume: fn('int virDomainResume(void *dom)'),
    undefineFlags: fn('int virDomainUndefineFlags(void *dom, unsigned int flags)'),
    listSnapshots: fn('int virDomainListAllSnapshots(void *dom, _Out_ void **snaps, unsigned int flags)'),
    snapshotName: fn('const char *virDomainSnapshotGetName(void *snap)'),
    snapshotXml: fn('void *virDomainSnapshotGetXMLDesc(void *snap, unsigned int flags)'),
    snapshotIsCurrent: fn('int virDomainSnapshotIsCurrent(void *snap, unsigned int flags)'),
    snapshotFree: fn('int virDomainSnapshotFree(void *snap)'),
    snapshotCreateXml: fn('void *virDomainSnapshotCreateXML(void *dom, const char *xml, unsigned int flags)'),
    snapshotLookup: fn('void *virDomainSnapshotLookupByName(void *dom, const char *name, unsigned int flags)'),
    snapshotRevert: fn('int virDomainRevertToSnapshot(void *snap, unsigned int flags)'),
    snapshotDelete: fn('int virDomainSnapshotDelete(void *snap, unsigned int flags)'),
    eventRegisterAny: fn(
      'int virConnectDomainEventRegisterAny(void *conn, void *dom, int id, vmdesk_virLifecycleCb *cb, void *opaque, void *freecb)',
    ),
    eventDeregisterAny: fn('int virConnectDomainEventDeregisterAny(void *conn, int id)'),
    registerCloseCallback: fn(
      'int virConnectRegisterCloseCallback(void *conn, vmdesk_virCloseCb *cb, void *opaque, void *freecb)',
    ),
    unregisterCloseCallback: fn('int virConnectUnregisterCloseCallback(void *conn, vmdesk_virCloseCb *cb)'),
    streamNew: fn('void *virStreamNew(void *conn, unsigned int flags)'),
    openConsole: fn('int virDomainOpenConsole(void *dom, const char *dev, void *st, unsigned int flags)'),
    streamAddCallback: fn(
      'int virStreamEventAddCallback(void *st, int events, vmdesk_virStreamCb *cb, void *opaque, void *ff)',
    ),
    streamUpdateCallback: fn('int virStreamEventUpdateCallback(void *st, int events)'),
    streamRemoveCallback: fn('int virStreamEventRemoveCallback(void *st)'),
    streamRecv: fn('int virStreamRecv(void *st, _Out_ uint8_t *data, size_t n)'),
    streamSend: fn('int virStreamSend(void *st, const uint8_t *data, size_t n)'),
    streamAbort: fn('int virStreamAbort(void *st)'),
    streamFree: fn('int virStreamFree(void *st)'),
  };

  if ((c.initialize() as number) < 0) throw new Error('virInitialize failed');
  const versionOut = [0];
  c.getVersion(versionOut, null, null);
  const version = versionText(Number(versionOut[0]));

  const decodeError = (p: Ptr) => {
    const e = koffi.decode(p, virError) as { code: number; domain: number; message: string | null };
    return new LibvirtError(e.message ?? `libvirt error ${e.code}`, e.code, e.domain);
  };
  /** Takes a malloc'd C string from libvirt: its text, and the memory freed. */
  const takeString = (p: Ptr): string => {
    const s = koffi.decode(p, 'char', -1) as string;
    free(p);
    return s;
  };
  const uuidOf = (dom: Ptr): string => {
    const buf = Buffer.alloc(40);
    c.domainUuid(dom, buf);
    return buf.toString('latin1', 0, 36);
  };

  // Errors while opening a connection, and any not tied to one: the global handler.
  let globalError: LibvirtError | undefined;
  const globalHandler = koffi.register((_ud: Ptr, err: Ptr) => {
    globalError = decodeError(err);
  }, koffi.pointer(ErrorFunc));
  c.setErrorFunc(null, globalHandler);

  // The event loop: one iteration after another on a worker thread, for as long as a connection
  // is open. The timer bounds an iteration (a native no-op, srand: a JS callback on the loop's
  // thread could not run while the process exits).
  if ((c.eventRegisterDefaultImpl() as number) < 0) throw new Error('virEventRegisterDefaultImpl failed');
  // The program's own handle finds libc's symbols on Linux and macOS alike (RTLD_LAZY = 1).
  const noop = dlsym(dlopen(null, 1), 'srand');
  if (!noop) throw new Error('srand not found');
  c.eventAddTimeout(250, noop, null, null);
  let openConnections = 0;
  let looping = false;
  const runLoop = () => {
    if (looping || openConnections === 0) return;
    looping = true;
    c.eventRunDefaultImpl.async(() => {
      looping = false;
      setImmediate(runLoop);
    });
  };

  const call = <T>(f: Fn, ...args: unknown[]): Promise<T> =>
    new Promise((resolve, reject) => {
      f.async(...args, (err: unknown, res: T) => (err ? reject(err as Error) : resolve(res)));
    });

  let opens: Promise<unknown> = Promise.resolve();
  const open = (uri: string): Promise<LibvirtConnection> => {
    const run = async () => {
      globalError = undefined;
      const conn = await call<Ptr>(c.open, uri);
      if (!conn) throw globalError ?? new LibvirtError(`libvirt could not connect to ${uri}.`, 0, 0);
      openConnections++;
      runLoop();
      return await connection(uri, conn);
    };
    const p = opens.then(run, run);
    // A host that never answers (a blackholed address waits out TCP's timeout) holds the next
    // opens back for 20 s at most; an error of an open that overlaps another may then be
    // reported by the wrong one of the two (libvirt's global error handler cannot tell them apart).
    opens = Promise.race([p.catch(() => {}), new Promise<void>((r) => setTimeout(r, 20_000).unref())]);
    return p;
  };

  const connection = async (uri: string, conn: Ptr): Promise<LibvirtConnection> => {
    /** Open console streams: ended before the connection closes (they hold it, and its handlers). */
    const streams = new Set<ConsoleStream>();
    let lastError: LibvirtError | undefined;
    let closed = false;
    const errorHandler = koffi.register((_ud: Ptr, err: Ptr) => {
      lastError = decodeError(err);
    }, koffi.pointer(ErrorFunc));
    c.connSetErrorFunc(conn, null, errorHandler);
    const eventListeners: ((uuid: string, event: number, detail: number) => void)[] = [];
    const closeListeners: ((reason: string) => void)[] = [];
    const lifecycle = koffi.register((_c: Ptr, dom: Ptr, event: number, detail: number) => {
      const uuid = uuidOf(dom);
      setImmediate(() => {
        for (const l of eventListeners) l(uuid, event, detail);
      });
    }, koffi.pointer(LifecycleCb));
    // virConnectCloseReason
    const CLOSE_REASONS = ['an error', 'the other end closed it', 'the host stopped answering', 'closed here'];
    const onClose = koffi.register((_c: Ptr, reason: number) => {
      const why = CLOSE_REASONS[reason] ?? 'an error';
      setImmediate(() => {
        for (const l of closeListeners) l(why);
      });
    }, koffi.pointer(CloseCb));

    // One call at a time on this connection, so `lastError` is the failing call's.
    let queue: Promise<unknown> = Promise.resolve();
    const serial = <T>(work: () => Promise<T>): Promise<T> => {
      const p = queue.then(work, work);
      queue = p.catch(() => {});
      return p;
    };
    const fail = (what: string): LibvirtError =>
      lastError ?? new LibvirtError(`libvirt could not ${what} on ${uri}.`, 0, 0);
    const checked = async <T>(what: string, f: Fn, ...args: unknown[]): Promise<T> => {
      if (closed) throw new LibvirtError(`The connection to ${uri} is closed.`, VIR_ERR.NO_CONNECT, 0);
      lastError = undefined;
      const r = await call<T>(f, ...args);
      if (r === null || r === undefined || (typeof r === 'number' && r < 0)) throw fail(what);
      return r;
    };
    const withDomain = <T>(ref: string, work: (dom: Ptr) => Promise<T>): Promise<T> =>
      serial(async () => {
        const byUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(ref);
        const dom = await checked<Ptr>(`find the domain ${ref}`, byUuid ? c.lookupByUuid : c.lookupByName, conn, ref);
        try {
          return await work(dom);
        } finally {
          c.domainFree(dom);
        }
      });
    const infoOf = async (dom: Ptr): Promise<DomainInfo> => {
      const st = [0];
      const rs = [0];
      await checked('read the domain state', c.domainState, dom, st, rs, 0);
      const persistent = await checked<number>('read the domain', c.domainIsPersistent, dom);
      return {
        uuid: uuidOf(dom),
        name: c.domainName(dom) as string,
        state: st[0]!,
        reason: rs[0]!,
        persistent: persistent === 1,
      };
    };
    const withSnapshot = <T>(uuid: string, name: string, work: (snap: Ptr) => Promise<T>) =>
      withDomain(uuid, async (dom) => {
        const snap = await checked<Ptr>(`find the snapshot ${name}`, c.snapshotLookup, dom, name, 0);
        try {
          return await work(snap);
        } finally {
          c.snapshotFree(snap);
        }
      });

    const api: LibvirtConnection = {
      uri,
      hostname: () => serial(async () => takeString(await checked<Ptr>('read the host name', c.getHostname, conn))),
      libVersion: () =>
        serial(async () => {
          const out = [0];
          await checked('read the libvirt version', c.getLibVersion, conn, out);
          return versionText(Number(out[0]));
        }),
      domains: () =>
        serial(async () => {
          const out: Ptr[] = [null];
          const n = await checked<number>('list the domains', c.listAllDomains, conn, out, 0);
          const doms = n > 0 ? (koffi.decode(out[0], 'void *', n) as Ptr[]) : [];
          try {
            const infos: DomainInfo[] = [];
            for (const d of doms) {
              try {
                infos.push(await infoOf(d));
              } catch (err) {
                // A domain undefined while we list it: not an error of the list.
                if (!(err instanceof LibvirtError && err.code === VIR_ERR.NO_DOMAIN)) throw err;
              }
            }
            return infos;
          } finally {
            for (const d of doms) c.domainFree(d);
            if (out[0]) free(out[0]);
          }
        }),
      domain: (ref) => withDomain(ref, infoOf),
      domainXml: (uuid, opts = {}) =>
        withDomain(uuid, async (dom) =>
          takeString(await checked<Ptr>('read the domain XML', c.domainXml, dom, opts.inactive ? 2 : 0)),
        ),
      lifecycle: (uuid, op) =>
        withDomain(uuid, async (dom) => {
          const f = {
            start: c.create,
            shutdown: c.shutdown,
            destroy: c.destroy,
            reboot: c.reboot,
            suspend: c.suspend,
            resume: c.resume,
          }[op];
          await checked(`${op} the domain`, f, ...(op === 'reboot' ? [dom, 0] : [dom]));
        }),
      // MANAGED_SAVE | SNAPSHOTS_METADATA | NVRAM | CHECKPOINTS_METADATA | TPM
      undefine: (uuid) =>
        withDomain(uuid, async (dom) => {
          // Drivers that do not know a flag refuse it (VIR_ERR_INVALID_ARG): then without it.
          const tries = [1 | 2 | 4 | 16 | 64, 1 | 2 | 4, 1 | 2];
          for (const [i, flags] of tries.entries()) {
            try {
              await checked('undefine the domain', c.undefineFlags, dom, flags);
              return;
            } catch (err) {
              if (i === tries.length - 1 || !(err instanceof LibvirtError && err.code === 8)) throw err;
            }
          }
        }),
      snapshots: (uuid) =>
        withDomain(uuid, async (dom) => {
          const out: Ptr[] = [null];
          const n = await checked<number>('list the snapshots', c.listSnapshots, dom, out, 0);
          const snaps = n > 0 ? (koffi.decode(out[0], 'void *', n) as Ptr[]) : [];
          try {
            const list: SnapshotEntry[] = [];
            for (const s of snaps) {
              const xml = takeString(await checked<Ptr>('read a snapshot', c.snapshotXml, s, 0));
              const current = (await checked<number>('read a snapshot', c.snapshotIsCurrent, s, 0)) === 1;
              list.push({ name: c.snapshotName(s) as string, xml, current });
            }
            return list;
          } finally {
            for (const s of snaps) c.snapshotFree(s);
            if (out[0]) free(out[0]);
          }
        }),
      snapshotCreate: (uuid, xml) =>
        withDomain(uuid, async (dom) => {
          const snap = await checked<Ptr>('take the snapshot', c.snapshotCreateXml, dom, xml, 0);
          try {
            return c.snapshotName(snap) as string;
          } finally {
            c.snapshotFree(snap);
          }
        }),
      snapshotRevert: (uuid, name) =>
        withSnapshot(uuid, name, async (snap) => {
          await checked('revert to the snapshot', c.snapshotRevert, snap, 0);
        }),
      snapshotDelete: (uuid, name) =>
        withSnapshot(uuid, name, async (snap) => {
          await checked('delete the snapshot', c.snapshotDelete, snap, 0);
        }),
      openConsole: (uuid) =>
        withDomain(uuid, async (dom) => {
          const st = await checked<Ptr>('make a stream', c.streamNew, conn, NONBLOCK);
          try {
            // VIR_DOMAIN_CONSOLE_FORCE: take the console from a `virsh console` left open.
            await checked('open the console', c.openConsole, dom, null, st, 1);
          } catch (err) {
            c.streamFree(st);
            throw err;
          }
          const stream = consoleStream(
            st,
            () => lastError,
            () => streams.delete(stream),
          );
          streams.add(stream);
          return stream;
        }),
      onDomainEvent: (l) => {
        eventListeners.push(l);
      },
      onClosed: (l) => {
        closeListeners.push(l);
      },
      close: () =>
        serial(async () => {
          if (closed) return;
          closed = true;
          for (const st of [...streams]) st.close();
          // From here libvirt reports this connection's errors to the global handler (never freed),
          // not to this one's, which is released below. All of these may talk to the daemon: off
          // Node's thread (a daemon that stopped answering must not freeze the window).
          c.connSetErrorFunc(conn, null, null);
          await call(c.eventDeregisterAny, conn, eventId).catch(() => {});
          await call(c.unregisterCloseCallback, conn, onClose).catch(() => {});
          await call(c.close, conn).catch(() => {});
          openConnections--;
          // The handlers' slots are released after the loop's thread is done with them.
          setTimeout(() => {
            koffi.unregister(lifecycle);
            koffi.unregister(onClose);
            koffi.unregister(errorHandler);
          }, 1000).unref();
        }),
    };

    // VIR_DOMAIN_EVENT_ID_LIFECYCLE = 0. Registering talks to the daemon: off Node's thread.
    const eventId = await call<number>(c.eventRegisterAny, conn, null, 0, lifecycle, null, null);
    await call(c.registerCloseCallback, conn, onClose, null, null);
    // A remote host that stops answering is noticed within ~20 s (ignored by local drivers).
    await call(c.setKeepAlive, conn, 5, 3);
    return api;
  };

  /** A console stream: reads when libvirt says the stream is readable, writes when writable. */
  const consoleStream = (st: Ptr, lastError: () => LibvirtError | undefined, onEnded: () => void): ConsoleStream => {
    let dataListener: (chunk: Uint8Array) => void = () => {};
    let endListener: (reason: string) => void = () => {};
    let drainListener: () => void = () => {};
    let ended = false;
    const pending: Uint8Array[] = [];
    let pendingBytes = 0;
    let wantDrain = false;
    const buf = Buffer.alloc(64 * 1024);

    const end = (reason: string) => {
      if (ended) return;
      ended = true;
      c.streamRemoveCallback(st);
      onEnded();
      // Aborting tells the daemon: off Node's thread. Freed, and the callback's slot released,
      // once the loop's thread can no longer be inside the callback.
      c.streamAbort.async(st, () => {
        setTimeout(() => {
          c.streamFree(st);
          koffi.unregister(cb);
        }, 1000).unref();
      });
      endListener(reason);
    };
    const read = () => {
      while (!ended) {
        const n = c.streamRecv(st, buf, buf.length) as number;
        if (n === -2) return; // nothing more now
        if (n === 0) return end('The console ended (the VM stopped).');
        if (n < 0) return end(lastError()?.message ?? 'The console stream failed.');
        dataListener(Uint8Array.prototype.slice.call(buf, 0, n));
      }
    };
    const flush = () => {
      while (!ended && pending.length > 0) {
        const head = pending[0]!;
        const n = c.streamSend(st, head, head.length) as number;
        if (n === -2) break;
        if (n < 0) return end(lastError()?.message ?? 'The console stream failed.');
        pendingBytes -= n;
        if (n < head.length) pending[0] = head.subarray(n);
        else pending.shift();
      }
      if (!ended) c.streamUpdateCallback(st, STREAM_READABLE | (pending.length > 0 ? STREAM_WRITABLE : 0));
      if (pending.length === 0 && wantDrain) {
        wantDrain = false;
        drainListener();
      }
    };
    const cb = koffi.register((_st: Ptr, events: number) => {
      setImmediate(() => {
        if (ended) return;
        if (events & STREAM_READABLE) read();
        if (events & STREAM_WRITABLE) flush();
        if (events & (STREAM_ERROR | STREAM_HANGUP)) {
          read();
          end('The console ended (the VM stopped).');
        }
      });
    }, koffi.pointer(StreamCb));
    if ((c.streamAddCallback(st, STREAM_READABLE, cb, null, null) as number) < 0) {
      koffi.unregister(cb);
      c.streamAbort(st);
      c.streamFree(st);
      throw lastError() ?? new LibvirtError('libvirt could not watch the console stream.', 0, 0);
    }
    return {
      onData: (l) => {
        dataListener = l;
        setImmediate(read);
      },
      onEnd: (l) => {
        endListener = l;
      },
      write: (data) => {
        if (ended) return true;
        pending.push(Uint8Array.prototype.slice.call(data));
        pendingBytes += data.length;
        flush();
        if (pendingBytes > INPUT_HIGH_WATER) {
          wantDrain = true;
          return false;
        }
        return true;
      },
      onDrain: (l) => {
        drainListener = l;
      },
      close: () => end('The console was closed.'),
    };
  };

  return { version, open };
}

function versionText(v: number): string {
  return `${Math.floor(v / 1_000_000)}.${Math.floor(v / 1000) % 1000}.${v % 1000}`;
}
