/**
 * A typed fake of the QemuLauncher, for the faults a real QEMU cannot produce on demand (a spawn
 * refused with E2BIG, a QEMU that never opens its control socket, one that ignores SIGTERM, a
 * `cont` that never answers). Each "QEMU" is in-process but speaks over the real unix sockets
 * its argv names: QMP (greeting, capabilities, the commands the driver sends, events) and a
 * serial socket, and it writes and removes its pidfile as QEMU does. Pids are above Linux's
 * pid_max, so they never name a real process.
 */
import fs from 'node:fs';
import net from 'node:net';
import type { ProcessExit, QemuLauncher, QemuProcess } from '../launcher.js';

export interface FakeQemuScript {
  /** The spawn fails with this errno code (E2BIG, ENOENT, EACCES); no process exists. */
  spawnError?: string;
  /** Exits right after the spawn with this code and stderr (a QEMU that refuses its options). */
  exitOnStart?: { code: number; stderr: string };
  /** Never opens the QMP socket (hung before it). */
  noQmp?: boolean;
  /** QMP commands that are never answered. */
  unanswered?: string[];
  /** QMP commands that QEMU refuses (an error reply). */
  refused?: string[];
  /** The guest ignores the ACPI power button. */
  ignorePowerButton?: boolean;
  ignoreSigterm?: boolean;
  /** The guest never lets go of a device asked to leave (device_del gets no DEVICE_DELETED). */
  keepsDevices?: boolean;
  /** Jobs (snapshot-save, -load, -delete) run until job-cancel instead of concluding at once. */
  slowJobs?: boolean;
  /**
   * Whether a usb-host device finds a host device to hold (QOM `attached`). There is no host USB
   * device on the test machines, so a real QEMU only ever says false; this says true on demand.
   */
  usbHostFound?: boolean;
}

/** A usb-host device's QOM properties as QEMU 7.2 reports them (0 / null when not set). */
interface FakeUsbHost {
  hostbus: number;
  hostaddr: number;
  hostport: string | null;
  vendorid: number;
  productid: number;
}

function usbHostOf(props: Record<string, unknown>): FakeUsbHost {
  const num = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : 0);
  return {
    hostbus: num(props.hostbus),
    hostaddr: num(props.hostaddr),
    hostport: typeof props.hostport === 'string' ? props.hostport : null,
    vendorid: num(props.vendorid),
    productid: num(props.productid),
  };
}

const PID_BASE = 5_000_000;

/** "socket,id=qmp,path=/x,,y,server=on" → "/x,y" (QEMU doubles commas inside values). */
function chardevPath(argv: readonly string[], id: string): string | undefined {
  for (const a of argv) {
    if (!a.startsWith('socket,') || !a.includes(`id=${id},`)) continue;
    const m = /(?:^|,)path=((?:[^,]|,,)*)/.exec(a);
    if (m) return m[1]!.replace(/,,/g, ',');
  }
  return undefined;
}

function argAfter(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** One fake QEMU process. Tests reach it through `launcher.procs` to act as the guest. */
export class FakeQemuProcess implements QemuProcess {
  readonly exit: Promise<ProcessExit>;
  status: 'prelaunch' | 'running' | 'paused' | 'shutdown' | 'exited' = 'prelaunch';
  readonly commands: string[] = [];
  /** Every QMP command with its arguments, in order. */
  readonly calls: { execute: string; arguments?: Record<string, unknown> }[] = [];
  readonly signals: NodeJS.Signals[] = [];
  #resolveExit!: (e: ProcessExit) => void;
  #servers: net.Server[] = [];
  #clients = new Set<net.Socket>();
  #qmp: net.Socket | undefined;
  #serialClients = new Set<net.Socket>();
  /** usb-host devices by id: those on the command line, then device_add / device_del. */
  readonly usbHosts = new Map<string, FakeUsbHost>();

  constructor(
    readonly pid: number,
    readonly uuid: string,
    readonly argv: readonly string[],
    private readonly logFile: string,
    /** What this process does; a test may change it while it runs. */
    readonly script: FakeQemuScript,
  ) {
    this.exit = new Promise((r) => (this.#resolveExit = r));
  }

  get alive(): boolean {
    return this.status !== 'exited';
  }

  async boot(): Promise<void> {
    const pidfile = argAfter(this.argv, '-pidfile');
    if (pidfile) fs.writeFileSync(pidfile, `${this.pid}\n`);
    if (this.script.exitOnStart) {
      const { code, stderr } = this.script.exitOnStart;
      fs.appendFileSync(this.logFile, `${stderr}\n`);
      setImmediate(() => this.end({ code, signal: null }, true));
      return;
    }
    for (let i = 0; i < this.argv.length - 1; i++) {
      if (this.argv[i] !== '-device' || !this.argv[i + 1]!.startsWith('usb-host,')) continue;
      const props = Object.fromEntries(
        this.argv[i + 1]!.split(',')
          .slice(1)
          .map((kv) => kv.split('=') as [string, string]),
      );
      if (props.id) this.usbHosts.set(props.id, usbHostOf(props));
    }
    const serial = chardevPath(this.argv, 'serial0');
    if (serial) this.#listen(serial, (s) => this.#serialClients.add(s));
    const qmp = chardevPath(this.argv, 'qmp');
    if (qmp && !this.script.noQmp) this.#listen(qmp, (s) => this.#serveQmp(s));
  }

  /** Bytes the guest writes to its serial port. */
  serialWrite(text: string): void {
    for (const s of this.#serialClients) s.write(text);
  }

  /** The guest powers itself off (SHUTDOWN event, then QEMU exits cleanly). */
  guestPowerOff(): void {
    this.#event('SHUTDOWN', { guest: true, reason: 'guest-shutdown' });
    setImmediate(() => this.end({ code: 0, signal: null }, true));
  }

  /** QEMU's control socket goes away while the process lives on (a wedged QEMU). */
  closeQmp(): void {
    const qmp = chardevPath(this.argv, 'qmp');
    for (const s of this.#servers) s.close();
    this.#qmp?.destroy();
    if (qmp) fs.rmSync(qmp, { force: true });
  }

  /** QEMU exits by itself, cleanly (its exit handlers run, so the pidfile goes). */
  exitCleanly(): void {
    this.end({ code: 0, signal: null }, true);
  }

  /** QEMU crashes: no exit handlers run, so its pidfile stays. */
  crash(): void {
    this.end({ code: null, signal: 'SIGSEGV' }, false);
  }

  kill(signal: NodeJS.Signals): boolean {
    if (!this.alive) return false;
    this.signals.push(signal);
    if (signal === 'SIGKILL') this.end({ code: null, signal: 'SIGKILL' }, false);
    else if (signal === 'SIGTERM' && !this.script.ignoreSigterm) {
      fs.appendFileSync(this.logFile, `qemu-system-x86_64: terminating on signal 15 from pid ${process.pid}\n`);
      this.end({ code: 0, signal: null }, true);
    }
    return true;
  }

  async waitForExit(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (!this.alive) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(!this.alive), timeoutMs);
      void this.exit.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
      signal?.addEventListener('abort', () => resolve(false), { once: true });
    });
  }

  /** The process ends: sockets close, and an orderly exit removes the pidfile. */
  end(exit: ProcessExit, orderly: boolean): void {
    if (!this.alive) return;
    this.status = 'exited';
    for (const c of this.#clients) c.destroy();
    for (const s of this.#servers) s.close();
    const pidfile = argAfter(this.argv, '-pidfile');
    if (orderly && pidfile) fs.rmSync(pidfile, { force: true });
    for (const id of ['qmp', 'serial0']) {
      const p = chardevPath(this.argv, id);
      if (p) fs.rmSync(p, { force: true });
    }
    setImmediate(() => this.#resolveExit(exit));
  }

  #listen(path: string, onConnection: (s: net.Socket) => void): void {
    const server = net.createServer((s) => {
      this.#clients.add(s);
      s.on('close', () => this.#clients.delete(s));
      s.on('error', () => undefined);
      onConnection(s);
    });
    server.listen(path);
    this.#servers.push(server);
  }

  #send(msg: unknown): void {
    if (this.#qmp && !this.#qmp.destroyed) this.#qmp.write(JSON.stringify(msg) + '\r\n');
  }

  #event(event: string, data?: Record<string, unknown>): void {
    this.#send({ event, ...(data ? { data } : {}), timestamp: { seconds: 0, microseconds: 0 } });
  }

  readonly #jobs = new Map<string, { type: string; status: string; error?: string }>();

  #conclude(id: string, error?: string): void {
    const job = this.#jobs.get(id);
    if (!job) return;
    job.status = 'concluded';
    if (error) job.error = error;
    setImmediate(() => this.#event('JOB_STATUS_CHANGE', { id, status: 'concluded' }));
  }

  #serveQmp(s: net.Socket): void {
    // QEMU serves one QMP client at a time: a second one is greeted when the first has gone.
    if (this.#qmp) {
      this.#qmp.once('close', () => this.#serveQmp(s));
      return;
    }
    this.#qmp = s;
    s.on('close', () => {
      if (this.#qmp === s) this.#qmp = undefined;
    });
    this.#send({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'fake' }, capabilities: [] } });
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) this.#command(JSON.parse(line) as { execute: string; id?: unknown });
      }
    });
  }

  #command(msg: { execute: string; arguments?: Record<string, unknown>; id?: unknown }): void {
    const cmd = msg.execute;
    this.commands.push(cmd);
    this.calls.push({ execute: cmd, ...(msg.arguments ? { arguments: msg.arguments } : {}) });
    if (this.script.unanswered?.includes(cmd)) return;
    if (this.script.refused?.includes(cmd))
      return this.#send({ error: { class: 'GenericError', desc: `${cmd} refused by the test` }, id: msg.id });
    const reply = (ret: unknown = {}) => this.#send({ return: ret, id: msg.id });
    switch (cmd) {
      case 'cont':
        this.status = 'running';
        reply();
        return this.#event('RESUME');
      case 'stop':
        this.status = 'paused';
        reply();
        return this.#event('STOP');
      case 'query-status':
        return reply({ status: this.status, running: this.status === 'running' });
      case 'system_powerdown':
        reply();
        this.#event('POWERDOWN');
        if (!this.script.ignorePowerButton) setImmediate(() => this.guestPowerOff());
        return;
      case 'system_reset':
        reply();
        return this.#event('RESET', { guest: false, reason: 'host-qmp-system-reset' });
      case 'snapshot-save':
      case 'snapshot-load':
      case 'snapshot-delete': {
        // A job: created, running, then concluded (at once, or when cancelled with slowJobs).
        const id = String(msg.arguments?.['job-id']);
        reply();
        const status = (s: string) => this.#event('JOB_STATUS_CHANGE', { id, status: s });
        status('created');
        status('running');
        this.#jobs.set(id, { type: cmd, status: 'running' });
        if (!this.script.slowJobs) this.#conclude(id);
        return;
      }
      case 'job-cancel': {
        const id = String(msg.arguments?.id);
        reply();
        if (this.#jobs.get(id)?.status === 'running') this.#conclude(id, 'Job was cancelled');
        return;
      }
      case 'query-jobs':
        return reply(
          [...this.#jobs].map(([id, j]) => ({
            id,
            type: j.type,
            status: j.status,
            'current-progress': j.status === 'concluded' ? 1 : 0,
            'total-progress': 1,
            ...(j.error ? { error: j.error } : {}),
          })),
        );
      case 'job-dismiss':
        this.#jobs.delete(String(msg.arguments?.id));
        return reply();
      case 'device_add': {
        const a = msg.arguments ?? {};
        if (a.driver !== 'usb-host') return reply();
        const id = String(a.id);
        const err = (desc: string) => this.#send({ error: { class: 'GenericError', desc }, id: msg.id });
        if (!this.argv.some((x) => x.startsWith('qemu-xhci'))) return err(`Bus '${String(a.bus)}' not found`);
        if (this.usbHosts.has(id)) return err(`Duplicate device ID '${id}' for device`);
        this.usbHosts.set(id, usbHostOf(a));
        return reply();
      }
      case 'qom-list':
        return reply(
          msg.arguments?.path === '/machine/peripheral'
            ? [...this.usbHosts.keys()].map((name) => ({ name, type: 'child<usb-host>' }))
            : [],
        );
      case 'qom-get': {
        const m = /^\/machine\/peripheral\/(.+)$/.exec(String(msg.arguments?.path));
        const dev = m ? this.usbHosts.get(m[1]!) : undefined;
        const prop = String(msg.arguments?.property);
        if (!dev)
          return this.#send({
            error: { class: 'DeviceNotFound', desc: `Device '${m?.[1] ?? ''}' not found` },
            id: msg.id,
          });
        if (prop === 'attached') return reply(this.status === 'running' && this.script.usbHostFound === true);
        return reply(dev[prop as keyof FakeUsbHost]);
      }
      case 'device_del':
        // A guest that cooperates lets go of the device: QEMU then says DEVICE_DELETED.
        if (typeof msg.arguments?.id === 'string' && !this.script.keepsDevices) this.usbHosts.delete(msg.arguments.id);
        reply();
        if (!this.script.keepsDevices)
          setImmediate(() => this.#event('DEVICE_DELETED', { device: msg.arguments?.id, path: '/x' }));
        return;
      case 'quit':
        reply();
        this.#event('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' });
        setImmediate(() => this.end({ code: 0, signal: null }, true));
        return;
      default:
        return reply();
    }
  }
}

export class FakeQemuLauncher implements QemuLauncher {
  /** What the next spawns do; a test changes it between steps. */
  script: FakeQemuScript = {};
  readonly procs: FakeQemuProcess[] = [];
  spawnCount = 0;
  /** Pids of ended QEMUs that the kernel gave to some other process: alive, but not ours. */
  readonly reused = new Set<number>();
  /** Every signal sent to an adopted pid, as "pid SIGNAL". */
  readonly adoptedSignals: string[] = [];

  async spawn(_binary: string, argv: readonly string[], logFile: string): Promise<FakeQemuProcess> {
    this.spawnCount++;
    await new Promise((r) => setImmediate(r));
    if (this.script.spawnError) {
      throw Object.assign(new Error(`spawn ${_binary} ${this.script.spawnError}`), { code: this.script.spawnError });
    }
    const uuid = argAfter(argv, '-uuid') ?? '';
    const proc = new FakeQemuProcess(PID_BASE + this.procs.length, uuid, argv, logFile, { ...this.script });
    this.procs.push(proc);
    await proc.boot();
    return proc;
  }

  /** An adopted process is not our child: it has no exit status (the real one has none either). */
  adopt(pid: number): QemuProcess {
    const proc = this.#find(pid);
    return {
      pid,
      waitForExit: async (ms, signal) => {
        if (this.reused.has(pid)) return new Promise<boolean>((r) => setTimeout(() => r(false), ms));
        return proc ? proc.waitForExit(ms, signal) : true;
      },
      kill: (sig) => {
        this.adoptedSignals.push(`${pid} ${sig}`);
        return this.reused.has(pid) || (proc?.kill(sig) ?? false);
      },
    };
  }

  isOurQemu(pid: number, vmId: string): boolean {
    const p = this.#find(pid);
    return !!p && p.alive && p.uuid.toLowerCase() === vmId.toLowerCase();
  }

  findByUuid(vmId: string): number | undefined {
    return this.procs.find((p) => p.alive && p.uuid.toLowerCase() === vmId.toLowerCase())?.pid;
  }

  pidExists(pid: number): boolean {
    return this.reused.has(pid) || !!this.#find(pid)?.alive;
  }

  /** The newest process (the one a test just started). */
  get last(): FakeQemuProcess {
    const p = this.procs.at(-1);
    if (!p) throw new Error('no QEMU was spawned');
    return p;
  }

  #find(pid: number): FakeQemuProcess | undefined {
    return this.procs.find((p) => p.pid === pid);
  }
}
