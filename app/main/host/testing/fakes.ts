/** Typed fakes of the host probe's doors (host-io.ts, the native facade), so each diagnosis is a
 * unit test. They implement the real interfaces: a contract change breaks these at compile time. */
import path from 'node:path';
import type { FlockResult, NativeHost, NativeResult, Rlimit } from '../../../native/index.js';
import type {
  AccessMode,
  CommandResult,
  HostFs,
  HostStat,
  QmpProcess,
  QmpProcessExit,
  RunCommand,
  SpawnQmp,
} from '../host-io.js';
import type { QmpProbeReplies } from '../qmp-probe.js';

export function fsError(code: string, p: string): Error {
  return Object.assign(new Error(`${code}: fake error, '${p}'`), { code });
}

interface FakeEntry {
  kind: 'file' | 'dir' | 'chardev';
  content: string;
  stat: HostStat;
  /** Access modes that fail, with the errno. */
  deny: Partial<Record<AccessMode | 'open', string>>;
}

export interface EntryOptions {
  mode?: number;
  uid?: number;
  gid?: number;
  mtimeMs?: number;
  deny?: Partial<Record<AccessMode | 'open', string>>;
}

/** An in-memory filesystem. Directories exist implicitly for every added path. */
export class FakeFs implements HostFs {
  private readonly entries = new Map<string, FakeEntry>();
  private nextFd = 100;
  readonly openFds = new Set<number>();
  readonly writes = new Map<string, string>();

  file(p: string, content = '', opts: EntryOptions = {}): this {
    return this.put(p, 'file', content, opts);
  }
  executable(p: string, opts: EntryOptions = {}): this {
    return this.put(p, 'file', '\x7fELF', { mode: 0o755, ...opts });
  }
  device(p: string, opts: EntryOptions = {}): this {
    return this.put(p, 'chardev', '', opts);
  }
  dir(p: string): this {
    return this.put(p, 'dir', '', {});
  }

  private put(p: string, kind: FakeEntry['kind'], content: string, o: EntryOptions): this {
    this.entries.set(p, {
      kind,
      content,
      deny: o.deny ?? {},
      stat: {
        size: Buffer.byteLength(content),
        mtimeMs: o.mtimeMs ?? 1_700_000_000_000,
        mode: o.mode ?? 0o644,
        uid: o.uid ?? 0,
        gid: o.gid ?? 0,
        isFile: kind === 'file',
        isDirectory: kind === 'dir',
        isCharacterDevice: kind === 'chardev',
      },
    });
    return this;
  }

  private isDir(p: string): boolean {
    if (this.entries.get(p)?.kind === 'dir') return true;
    const prefix = p.endsWith('/') ? p : `${p}/`;
    return [...this.entries.keys()].some((k) => k.startsWith(prefix));
  }

  private get(p: string): FakeEntry {
    const e = this.entries.get(p);
    if (!e) throw fsError('ENOENT', p);
    return e;
  }

  async readText(p: string): Promise<string> {
    const e = this.get(p);
    if (e.deny.read) throw fsError(e.deny.read, p);
    if (e.kind === 'dir') throw fsError('EISDIR', p);
    return e.content;
  }
  async readDir(p: string): Promise<string[]> {
    if (!this.isDir(p)) throw fsError('ENOENT', p);
    const prefix = p.endsWith('/') ? p : `${p}/`;
    const names = new Set<string>();
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) names.add(k.slice(prefix.length).split('/')[0]!);
    return [...names];
  }
  async stat(p: string): Promise<HostStat> {
    if (!this.entries.has(p) && this.isDir(p))
      return {
        size: 0,
        mtimeMs: 0,
        mode: 0o755,
        uid: 0,
        gid: 0,
        isFile: false,
        isDirectory: true,
        isCharacterDevice: false,
      };
    return { ...this.get(p).stat };
  }
  async access(p: string, mode: AccessMode): Promise<void> {
    const e = this.get(p);
    const denied = e.deny[mode];
    if (denied) throw fsError(denied, p);
    if (mode === 'execute' && (e.stat.mode & 0o111) === 0) throw fsError('EACCES', p);
  }
  async openReadWrite(p: string): Promise<number> {
    const e = this.get(p);
    const denied = e.deny.open ?? e.deny.write;
    if (denied) throw fsError(denied, p);
    const fd = this.nextFd++;
    this.openFds.add(fd);
    return fd;
  }
  async close(fd: number): Promise<void> {
    this.openFds.delete(fd);
  }
  async writeTextAtomic(p: string, text: string): Promise<void> {
    const dir = path.dirname(p);
    if (this.entries.get(dir)?.deny.write) throw fsError(this.entries.get(dir)!.deny.write!, dir);
    this.writes.set(p, text);
    this.file(p, text);
  }
}

/** A NativeHost whose every answer is a field the test sets. */
export class FakeNative implements NativeHost {
  implementation: 'koffi' | 'fallback' = 'koffi';
  loaded = true;
  loadError?: string;
  uid: number | undefined = 1000;
  gid: number | undefined = 1000;
  groups: number[] | undefined = [1000];
  memlock: NativeResult<Rlimit> = { ok: true, value: { soft: 8 * 1024 * 1024, hard: 8 * 1024 * 1024 } };
  /** When false, setMemlockLimit fails like the fallback does. */
  canSetMemlock = true;
  apiVersion: NativeResult<number> = { ok: true, value: 12 };
  extensions = new Map<number, number>([
    [3, 1],
    [66, 1024],
  ]);
  sysctls = new Map<string, number>();
  lockResult: FlockResult = { state: 'acquired' };

  /** The fallback's behaviour, with `loadError` in every "impossible" reason. */
  static unloaded(loadError: string): FakeNative {
    const n = new FakeNative();
    n.implementation = 'fallback';
    n.loaded = false;
    n.loadError = loadError;
    n.apiVersion = {
      ok: false,
      reason: `ioctl(KVM_GET_API_VERSION) needs the native layer (native layer not loaded: ${loadError})`,
    };
    n.canSetMemlock = false;
    return n;
  }

  getuid(): number | undefined {
    return this.uid;
  }
  getgid(): number | undefined {
    return this.gid;
  }
  getgroups(): number[] | undefined {
    return this.groups;
  }
  getMemlockLimit(): NativeResult<Rlimit> {
    return this.memlock;
  }
  setMemlockLimit(limit: Rlimit): NativeResult<Rlimit> {
    if (!this.canSetMemlock)
      return { ok: false, reason: `setrlimit(RLIMIT_MEMLOCK) needs the native layer (${this.loadError ?? 'fake'})` };
    this.memlock = { ok: true, value: limit };
    return this.memlock;
  }
  kvmApiVersion(): NativeResult<number> {
    return this.apiVersion;
  }
  kvmCheckExtension(_fd: number, cap: number): NativeResult<number> {
    if (!this.loaded) return { ok: false, reason: 'native layer not loaded' };
    return { ok: true, value: this.extensions.get(cap) ?? 0 };
  }
  sysctlInt(name: string): NativeResult<number> {
    const v = this.sysctls.get(name);
    return v === undefined ? { ok: false, reason: `unknown sysctl ${name}` } : { ok: true, value: v };
  }
  lockExclusive(): FlockResult {
    return this.lockResult;
  }
  unlock(): NativeResult<void> {
    return { ok: true, value: undefined };
  }
}

export interface FakeQemuBehaviour {
  /** Exit right after the greeting, with this stderr (a QEMU that refuses its options). */
  dieAfterGreeting?: string;
  /** Never say anything (a hung binary). */
  silent?: boolean;
  /** Fail to spawn with this message (ENOENT, EACCES). */
  spawnError?: string;
}

/** A QEMU that answers the probe from captured replies (e.g. the 7.2 fixture). */
export class FakeQemu {
  spawns: Array<{ binary: string; args: readonly string[] }> = [];
  constructor(
    private readonly replies: (binary: string) => QmpProbeReplies,
    private readonly behaviour: FakeQemuBehaviour = {},
  ) {}

  readonly spawn: SpawnQmp = (binary, args): QmpProcess => {
    this.spawns.push({ binary, args });
    const lines: Array<(l: string) => void> = [];
    const exits: Array<(e: QmpProcessExit) => void> = [];
    let exited: QmpProcessExit | undefined;
    const exit = (e: QmpProcessExit): void => {
      if (exited) return;
      exited = e;
      for (const l of exits) l(e);
    };
    const emit = (msg: unknown): void => {
      setImmediate(() => {
        if (!exited) for (const l of lines) l(JSON.stringify(msg));
      });
    };
    const data = this.replies(binary);
    const b = this.behaviour;
    setImmediate(() => {
      if (b.spawnError) return exit({ code: null, signal: null, error: b.spawnError, stderr: '' });
      if (b.silent) return;
      emit({ QMP: data.greeting });
      if (b.dieAfterGreeting !== undefined)
        setImmediate(() => setImmediate(() => exit({ code: 1, signal: null, stderr: b.dieAfterGreeting! })));
    });
    return {
      write: (line) => {
        const msg = JSON.parse(line) as { execute: string; id?: string; arguments?: Record<string, unknown> };
        if (msg.execute === 'qmp_capabilities') return emit({ return: {}, id: msg.id });
        if (msg.execute === 'quit') {
          emit({ return: {}, id: msg.id });
          emit({
            event: 'SHUTDOWN',
            data: { guest: false, reason: 'host-qmp-quit' },
            timestamp: { seconds: 0, microseconds: 0 },
          });
          setImmediate(() => setImmediate(() => exit({ code: 0, signal: null, stderr: '' })));
          return;
        }
        // Captured replies are kept under the probe's request ids; a type left out is one this
        // QEMU lacks, answered as QEMU answers (DeviceNotFound), any other command is unknown.
        const reply = data.replies[msg.id ?? msg.execute];
        const typename = msg.arguments?.['typename'];
        emit(
          reply
            ? { ...reply, id: msg.id }
            : typeof typename === 'string'
              ? { error: { class: 'DeviceNotFound', desc: `Class '${typename}' not found` }, id: msg.id }
              : {
                  error: { class: 'CommandNotFound', desc: `The command ${msg.execute} has not been found` },
                  id: msg.id,
                },
        );
      },
      onLine: (l) => lines.push(l),
      onExit: (l) => (exited ? l(exited) : exits.push(l)),
      kill: () => exit({ code: null, signal: 'SIGKILL', stderr: '' }),
    };
  };
}

/** A RunCommand answering from a table keyed by "file arg arg..."; unknown commands are ENOENT. */
export function fakeRun(table: Record<string, Partial<CommandResult>>): RunCommand & { calls: string[] } {
  const calls: string[] = [];
  const run = async (file: string, args: readonly string[]): Promise<CommandResult> => {
    const key = [file, ...args].join(' ');
    calls.push(key);
    const r = table[key];
    if (!r) return { code: null, stdout: '', stderr: '', error: `spawn ${file} ENOENT` };
    return { code: 0, stdout: '', stderr: '', ...r };
  };
  return Object.assign(run, { calls });
}
