/**
 * The libvirt comparison: `virsh -c qemu:///session` (libvirt's own session mode, as the user,
 * no root) defining and starting the same VM, and taking and reverting live snapshots of it. Used
 * only when `virsh` is on PATH; the bench never installs it. If it breaks, the bench reports the
 * libvirt rows as failed with virsh's message and the other rows still run.
 *
 * For root, qemu:///session is not a session: libvirt's remote driver sends uid 0 to the system
 * daemon's socket (/run/libvirt/libvirt-sock), which only a libvirtd service provides. So a bench
 * run as root drives libvirt as `nobody` (setpriv), in a sandbox handed over to that user: a
 * session daemon of nobody's own, which is what a user without root gets.
 *
 * One set of XDG dirs serves every libvirt run (unlike vmdesk's fresh dirs per run): the first
 * virsh call autostarts the session daemon (virtqemud or libvirtd --timeout) in those dirs, and a
 * fresh runtime dir per run would time that daemon start-up on every run, which a user meets
 * only once. The warm-up round pays it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Accel } from '../../app/main/common/host-types.js';
import { REPO } from '../../e2e/support/cli.js';
import { onPath } from './machine.js';
import type { BenchSandbox } from './sandbox.js';

const URI = 'qemu:///session';
/** Who runs libvirt's session when the bench runs as root: nobody/nogroup (65534 on Debian and Fedora). */
const SESSION_USER = { uid: 65534, gid: 65534, name: 'nobody' };
const asRoot = () => process.getuid?.() === 0;

/** The user the session-mode rows run as, for the table: "nobody" under a root bench, else us. */
export function sessionUserName(): string {
  return asRoot() ? SESSION_USER.name : os.userInfo().username;
}

/** `cmd args` as the session user: under setpriv when the bench is root (it execs the command in
 * place: one more exec, well under a millisecond, no extra process), else unchanged. */
export function asSessionUser(cmd: string, args: readonly string[]): [string, string[]] {
  if (!asRoot()) return [cmd, [...args]];
  return [
    'setpriv',
    [`--reuid=${SESSION_USER.uid}`, `--regid=${SESSION_USER.gid}`, '--clear-groups', '--', cmd, ...args],
  ];
}

/** What asSessionUser puts before a command: for wrappers that take a prefix (Sandbox.startDriver). */
export function sessionUserPrefix(): string[] {
  const [cmd, argv] = asSessionUser('', []);
  return cmd ? [cmd, ...argv.slice(0, -1)] : [];
}

/** Hands `file` (a directory: all of it) to the session user, when that is not us. */
export function ownBySessionUser(file: string): void {
  if (!asRoot()) return;
  fs.chownSync(file, SESSION_USER.uid, SESSION_USER.gid);
  if (fs.statSync(file).isDirectory())
    for (const f of fs.readdirSync(file, { recursive: true, encoding: 'utf8' }))
      fs.lchownSync(path.join(file, f), SESSION_USER.uid, SESSION_USER.gid);
}

export function findVirsh(): string | undefined {
  return onPath('virsh');
}

const xmlEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;');

export interface DomainSpec {
  name: string;
  uuid: string;
  iso: string;
  emulator: string;
  accel: Accel;
  /** A qcow2 image as the first virtio disk (vda), as vmdesk's `disk0`; none when unset. */
  disk?: string;
}

/** The domain vmdesk's argv describes: q35, TCG, `-cpu max`, 256 MiB, 1 vCPU, the qcow2 disk on
 * virtio-blk when given, the ISO on SATA, user networking on virtio-net, VGA on a VNC unix socket,
 * xHCI tablet, serial on a unix socket logged to `serial.log` in `runDir` (QEMU's logfile=, as vmdesk's). */
export function domainXml(o: DomainSpec & { runDir: string }): string {
  const e = xmlEscape;
  // libvirt's domain type 'qemu' is TCG; `-cpu max` is mode='maximum' under TCG, 'host-passthrough' under KVM/HVF.
  const type = o.accel === 'tcg' ? 'qemu' : o.accel;
  const cpu = o.accel === 'tcg' ? 'maximum' : 'host-passthrough';
  return `<domain type='${type}'>
  <name>${e(o.name)}</name>
  <uuid>${o.uuid}</uuid>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <features><acpi/></features>
  <cpu mode='${cpu}'/>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>${e(o.emulator)}</emulator>${
      o.disk
        ? `
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${e(o.disk)}'/>
      <target dev='vda' bus='virtio'/>
      <boot order='2'/>
    </disk>`
        : ''
    }
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='${e(o.iso)}'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
      <boot order='1'/>
    </disk>
    <interface type='user'><model type='virtio'/></interface>
    <serial type='unix'>
      <source mode='bind' path='${e(path.join(o.runDir, 'serial.sock'))}'/>
      <log file='${e(path.join(o.runDir, 'serial.log'))}'/>
    </serial>
    <graphics type='vnc' socket='${e(path.join(o.runDir, 'vnc.sock'))}'/>
    <video><model type='vga'/></video>
    <controller type='usb' model='qemu-xhci'/>
    <input type='tablet' bus='usb'/>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

export class LibvirtSession {
  constructor(
    private readonly virsh: string,
    private readonly sb: BenchSandbox,
  ) {
    this.own(sb.root);
  }

  /** Hands `file` (a directory: all of it) to the user the session runs as, when that is not us. */
  own(file: string): void {
    ownBySessionUser(file);
  }

  /** Runs one virsh command; resolves with its wall time in ms, rejects with virsh's words. */
  private run(args: string[]): Promise<number> {
    const t0 = performance.now();
    const [cmd, argv] = asSessionUser(this.virsh, ['-c', URI, ...args]);
    return new Promise((resolve, reject) => {
      execFile(cmd, argv, { env: this.sb.env, timeout: 120_000, encoding: 'utf8' }, (err, _out, stderr) => {
        if (err) reject(new Error(`virsh ${args[0]} failed: ${(stderr || err.message).trim()}`));
        else resolve(performance.now() - t0);
      });
    });
  }

  /** Writes the domain XML of `o` into a fresh run dir of the session user's; returns its path. */
  writeDomain(o: DomainSpec): { xml: string; runDir: string } {
    const runDir = fs.mkdtempSync(path.join(this.sb.root, 'lv-'));
    const xml = path.join(runDir, 'domain.xml');
    fs.writeFileSync(xml, domainXml({ ...o, runDir }));
    this.own(runDir);
    return { xml, runDir };
  }

  /** define + start; ms is the sum of both virsh calls (each includes virsh's own start-up,
   * as vmdesk's CLI row includes Node's). */
  async start(o: DomainSpec): Promise<number> {
    return (await this.startDomain(o)).ms;
  }

  /** As start(), also saying where the guest's serial output is logged. */
  async startDomain(o: DomainSpec): Promise<{ ms: number; serialLog: string }> {
    const { xml, runDir } = this.writeDomain(o);
    const defineMs = await this.run(['define', xml]);
    return { ms: defineMs + (await this.run(['start', o.name])), serialLog: path.join(runDir, 'serial.log') };
  }

  /** `virsh snapshot-create-as DOMAIN NAME`: of a running domain with qcow2 disks, an internal
   * snapshot with its memory (libvirt's default). ms includes virsh's start-up. */
  snapshotCreate(domain: string, name: string): Promise<number> {
    return this.run(['snapshot-create-as', domain, name]);
  }

  /** `virsh snapshot-revert DOMAIN NAME`; ms includes virsh's start-up. */
  snapshotRevert(domain: string, name: string): Promise<number> {
    return this.run(['snapshot-revert', domain, name]);
  }

  snapshotDelete(domain: string, name: string): Promise<number> {
    return this.run(['snapshot-delete', domain, name]);
  }

  /** `virsh destroy` (libvirt's force off): returns once QEMU is gone. Then undefine, untimed. */
  async destroy(name: string): Promise<number> {
    const ms = await this.run(['destroy', name]);
    await this.run(['undefine', name, '--snapshots-metadata']).catch(() => undefined);
    return ms;
  }

  /** Best-effort teardown of what the bench created: any leftover domain, then the session daemon
   * that virsh autostarted in this sandbox (found by its pidfile in the sandbox's runtime dir). */
  async close(names: readonly string[]): Promise<void> {
    for (const n of names) {
      await this.run(['destroy', n]).catch(() => undefined);
      await this.run(['undefine', n, '--snapshots-metadata']).catch(() => undefined);
    }
    const runDir = path.join(this.sb.env.XDG_RUNTIME_DIR!, 'libvirt');
    for (const daemon of ['virtqemud', 'libvirtd', 'virtlogd']) {
      try {
        const pid = Number(fs.readFileSync(path.join(runDir, `${daemon}.pid`), 'utf8').trim());
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmd.includes(daemon)) process.kill(pid, 'SIGTERM');
      } catch {
        /* not started, or already gone */
      }
    }
  }
}

/**
 * libvirt's C API in a process of its own that runs as the session user and keeps one
 * `qemu:///session` connection open, as an application linked to libvirt does (virt-manager,
 * vmdesk's libvirt backend): each call is timed inside that process, so neither Node's nor
 * virsh's start-up is in it. The process is a few lines of plain JS over koffi (the bench runs
 * as root, and for root qemu:///session is the system daemon, so the bench's own process cannot
 * be the client); app/native/libvirt.ts has no virDomainDefineXML (vmdesk never defines on a
 * libvirt host), hence its own declarations here.
 */
export class LibvirtApi {
  private readonly child: ChildProcess;
  private buffer = '';
  private waiting: ((line: string) => void) | undefined;
  private stderr = '';

  private constructor(sb: BenchSandbox) {
    const script = path.join(sb.root, 'libvirt-api.mjs');
    fs.writeFileSync(script, API_HELPER, { mode: 0o644 });
    ownBySessionUser(script);
    const [cmd, argv] = asSessionUser(process.execPath, [script]);
    this.child = spawn(cmd, argv, { env: { ...sb.env, VMDESK_BENCH_REPO: REPO }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.buffer += d;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0 && this.waiting) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        const w = this.waiting;
        this.waiting = undefined;
        w(line);
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
  }

  /** Starts the client process and opens the connection (which autostarts the session daemon). */
  static async open(sb: BenchSandbox): Promise<LibvirtApi> {
    const api = new LibvirtApi(sb);
    await api.call({ op: 'open', uri: URI });
    return api;
  }

  /** One request; resolves with the ms the libvirt call took, rejects with libvirt's message. */
  private call(req: Record<string, unknown>): Promise<number> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) =>
        reject(new Error(`the libvirt API client exited (${code}): ${this.stderr.trim().slice(-500)}`));
      this.child.once('exit', onExit);
      this.waiting = (line) => {
        this.child.off('exit', onExit);
        const r = JSON.parse(line) as { ms?: number; error?: string };
        if (r.error !== undefined) reject(new Error(r.error));
        else resolve(r.ms!);
      };
      this.child.stdin!.write(`${JSON.stringify(req)}\n`);
    });
  }

  /** virDomainDefineXML from the domain's XML file. */
  define(xmlFile: string): Promise<number> {
    return this.call({ op: 'define', xml: fs.readFileSync(xmlFile, 'utf8') });
  }

  /** virDomainLookupByName + virDomainCreate: returns once the domain runs (libvirt's `cont` done). */
  start(name: string): Promise<number> {
    return this.call({ op: 'create', name });
  }

  /** virDomainDestroy (returns once QEMU is gone). */
  destroy(name: string): Promise<number> {
    return this.call({ op: 'destroy', name });
  }

  /** virDomainUndefineFlags with the snapshot metadata. */
  undefine(name: string): Promise<number> {
    return this.call({ op: 'undefine', name });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.end(`${JSON.stringify({ op: 'close' })}\n`);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }
}

/** The client process of LibvirtApi: JSON lines in ({op, ...}), {ms} or {error} out. */
const API_HELPER = `
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
const koffi = createRequire(process.env.VMDESK_BENCH_REPO + '/package.json')('koffi');
const lib = koffi.load('libvirt.so.0');
const open = lib.func('void *virConnectOpen(const char *name)');
const closeConn = lib.func('int virConnectClose(void *conn)');
const defineXml = lib.func('void *virDomainDefineXML(void *conn, const char *xml)');
const lookup = lib.func('void *virDomainLookupByName(void *conn, const char *name)');
const create = lib.func('int virDomainCreate(void *dom)');
const destroy = lib.func('int virDomainDestroy(void *dom)');
const undefine = lib.func('int virDomainUndefineFlags(void *dom, unsigned int flags)');
const freeDom = lib.func('int virDomainFree(void *dom)');
const lastError = lib.func('const char *virGetLastErrorMessage()');
const UNDEFINE_SNAPSHOTS_METADATA = 2;
let conn = null;
const reply = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const failed = (what) => reply({ error: what + ' failed: ' + lastError() });
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  const t0 = performance.now();
  if (m.op === 'open') {
    conn = open(m.uri);
    return conn ? reply({ ms: performance.now() - t0 }) : failed('virConnectOpen ' + m.uri);
  }
  if (m.op === 'close') {
    if (conn) closeConn(conn);
    process.exit(0);
  }
  if (m.op === 'define') {
    const dom = defineXml(conn, m.xml);
    if (!dom) return failed('virDomainDefineXML');
    const ms = performance.now() - t0;
    freeDom(dom);
    return reply({ ms });
  }
  const dom = lookup(conn, m.name);
  if (!dom) return failed('virDomainLookupByName ' + m.name);
  const call = { create: () => create(dom), destroy: () => destroy(dom), undefine: () => undefine(dom, UNDEFINE_SNAPSHOTS_METADATA) }[m.op];
  const rc = call ? call() : -1;
  const ms = performance.now() - t0;
  freeDom(dom);
  if (rc < 0) return failed('virDomain ' + m.op);
  reply({ ms });
});
`;
