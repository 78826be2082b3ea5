/**
 * The libvirt hosts vmdesk shows VMs of, beside this computer's session driver: connections made
 * through libvirt's client library (app/native/libvirt.ts), their domains as LibvirtVm, their
 * state pushed from libvirt's domain events, and the ones the user asked to keep in
 * `$XDG_CONFIG_HOME/vmdesk/connections.json` (URIs only: SSH uses the user's own config, agent
 * and known_hosts, and vmdesk stores no password).
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Duplex } from 'node:stream';
import type { ContractEvents, EventName } from '../common/contract.js';
import { LOCAL_HOST_ID, libvirtUriProblem, type HostConnection } from '../common/connection-types.js';
import { VmdeskError } from '../common/errors.js';
import type { VmSummary } from '../common/vm-types.js';
import { LibvirtError, loadLibvirt, VIR_ERR, type LibvirtConnection, type LibvirtLoad } from '../../native/libvirt.js';
import { fromLibvirt, LibvirtVm } from './libvirt-vm.js';

export interface HostsOptions {
  /** Where remembered connections are kept (connections.json). */
  file: string;
  events: { emit<E extends EventName>(event: E, data: ContractEvents[E]): void };
  /** libvirt's client library (default: the process's one). */
  load?: () => LibvirtLoad;
  log?: (line: string) => void;
}

interface Host {
  id: string;
  uri: string;
  label: string;
  state: HostConnection['state'];
  error?: string;
  fix?: string;
  remembered: boolean;
  hypervisor?: HostConnection['hypervisor'];
  conn?: LibvirtConnection;
  connecting?: Promise<HostConnection>;
  vms: Map<string, LibvirtVm>;
}

/** `lv-` and the first 8 hex digits of the URI's SHA-256: stable, short, safe in a VM id. */
export function connectionIdOf(uri: string): string {
  return `lv-${crypto.createHash('sha256').update(uri).digest('hex').slice(0, 8)}`;
}

/**
 * The URI as opened: SSH never asks on a terminal (no_tty=1: BatchMode), so a key that needs a
 * passphrase not in the agent fails at once with what to do, instead of a driver waiting forever
 * on a prompt nobody sees.
 */
function openUri(uri: string): string {
  const u = parseUri(uri);
  if (!u.scheme.startsWith('qemu+ssh') || /[?&;]no_tty=/i.test(uri)) return uri;
  return `${uri}${uri.includes('?') ? '&' : '?'}no_tty=1`;
}

/** A libvirt VM's ref: `lv-xxxxxxxx/UUID` or `lv-xxxxxxxx/NAME`. */
const LIBVIRT_REF = /^(lv-[0-9a-f]{8})\/(.+)$/;

/** qemu:///system, qemu+unix:///session, qemu+ssh://localhost/…: a daemon of this computer. */
export function isLocalLibvirtUri(uri: string): boolean {
  const host = parseUri(uri).host;
  return host === undefined || ['localhost', '127.0.0.1', '[::1]'].includes(host);
}

export function isLibvirtRef(ref: string): boolean {
  return LIBVIRT_REF.test(ref);
}

interface ParsedUri {
  scheme: string;
  user?: string;
  host?: string;
  port?: string;
  path: string;
  query: URLSearchParams;
}

function parseUri(uri: string): ParsedUri {
  const m = /^([a-z0-9+]+):\/\/(?:([^@/]*)@)?(\[[^\]]*\]|[^:/]*)(?::(\d+))?\/([^?]*)(?:\?(.*))?$/.exec(uri);
  if (!m) return { scheme: '', path: '', query: new URLSearchParams() };
  return {
    scheme: m[1]!,
    ...(m[2] ? { user: decodeURIComponent(m[2]) } : {}),
    ...(m[3] ? { host: m[3] } : {}),
    ...(m[4] ? { port: m[4] } : {}),
    path: m[5]!,
    query: new URLSearchParams(m[6] ?? ''),
  };
}

/** What the list calls a host: "system (this computer)", "root@server:2222 (system)". */
export function connectionLabel(uri: string): string {
  const u = parseUri(uri);
  const kind = u.path || 'default';
  if (!u.host) return u.scheme === 'test' ? `libvirt test driver (${kind})` : `libvirt ${kind} (this computer)`;
  return `${u.user ? `${u.user}@` : ''}${u.host}${u.port ? `:${u.port}` : ''} (${kind})`;
}

/** What to do about an error libvirt gave while connecting. */
export function connectFix(uri: string, message: string): string {
  const u = parseUri(uri);
  const where = u.host ? `${u.user ? `${u.user}@` : ''}${u.host}` : 'this computer';
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION/i.test(message))
    return `Connect once with \`ssh ${u.port ? `-p ${u.port} ` : ''}${where}\` in a terminal to check and accept the host key: vmdesk uses your known_hosts.`;
  if (/Permission denied \(publickey|authentication fail|Authentication failed/i.test(message))
    return `Let your SSH key in on ${where} (ssh-copy-id), or load it into your agent (ssh-add): vmdesk uses your own SSH config and agent, and stores no password.`;
  if (/Connection refused|No route to host|timed out|Could not resolve|Name or service not known/i.test(message))
    return `Check that ${where} is up and that its SSH server runs, then try \`virsh -c ${uri} list\` in a terminal.`;
  if (/Failed to connect socket|No such file or directory/i.test(message))
    return `libvirt does not run on ${where}: start it (sudo systemctl start libvirtd, or virtqemud.socket) and try again.`;
  if (/Permission denied|access denied|not authorized|polkit/i.test(message))
    return `Your user may not use ${uri} on ${where}: add it to the libvirt group (sudo adduser USER libvirt) and log in again, or use qemu:///session.`;
  if (/nc: |netcat|virt-ssh-helper/i.test(message))
    return `libvirt's client tools are missing on ${where}: install libvirt-clients (or libvirt-daemon) there.`;
  return `Check the URI, and try \`virsh -c ${uri} list\` in a terminal.`;
}

export class LibvirtHosts {
  readonly #hosts = new Map<string, Host>();
  readonly #opts: HostsOptions;

  constructor(opts: HostsOptions) {
    this.#opts = opts;
    for (const uri of this.#remembered()) this.#hosts.set(connectionIdOf(uri), this.#newHost(uri, true));
  }

  /** This computer first, then every libvirt connection (connected or not). */
  connections(): HostConnection[] {
    const local: HostConnection = {
      id: LOCAL_HOST_ID,
      uri: LOCAL_HOST_ID,
      label: 'This computer',
      kind: 'local',
      state: 'connected',
      remembered: true,
    };
    return [local, ...[...this.#hosts.values()].map((h) => this.#public(h))];
  }

  /** Connects the remembered connections (a desktop or web driver's start); failures stay in their state. */
  connectRemembered(): Promise<void> {
    return Promise.all(
      [...this.#hosts.values()]
        .filter((h) => h.remembered && h.state !== 'connected')
        .map((h) => this.connect(h.uri, { remember: true }).catch(() => {})),
    ).then(() => {});
  }

  async connect(uri: string, opts: { remember?: boolean } = {}): Promise<HostConnection> {
    const problem = libvirtUriProblem(uri);
    if (problem) throw new VmdeskError('invalid-argument', problem, { field: 'uri' });
    const id = connectionIdOf(uri);
    let host = this.#hosts.get(id);
    if (!host) {
      host = this.#newHost(uri, false);
      this.#hosts.set(id, host);
    }
    // Remembered once it connects: a URI that never worked is not tried again at every start.
    const remember = (h: Host) => {
      if (!opts.remember || h.remembered) return;
      h.remembered = true;
      this.#save();
      this.#changed(h);
    };
    if (host.state === 'connected') {
      remember(host);
      return this.#public(host);
    }
    host.connecting ??= this.#open(host).finally(() => {
      host.connecting = undefined;
    });
    const connected = await host.connecting;
    remember(host);
    return { ...connected, remembered: host.remembered };
  }

  async disconnect(ref: string, opts: { forget?: boolean } = {}): Promise<HostConnection[]> {
    const host = this.#hosts.get(ref) ?? this.#hosts.get(connectionIdOf(ref));
    if (!host)
      throw new VmdeskError(
        'not-found',
        ref === LOCAL_HOST_ID
          ? 'This computer is always there: its VMs are vmdesk’s own.'
          : `No connection "${ref}". \`vmdesk host connections\` lists them.`,
      );
    await host.connecting?.catch(() => {});
    const conn = host.conn;
    host.conn = undefined;
    this.#dropVms(host, `${host.label} was disconnected.`);
    if (conn) await conn.close().catch(() => {});
    host.state = 'disconnected';
    host.error = undefined;
    host.fix = undefined;
    if (opts.forget || !host.remembered) {
      this.#hosts.delete(host.id);
      if (host.remembered) {
        host.remembered = false;
        this.#save();
      }
      this.#opts.events.emit('host.connectionChanged', { ...this.#public(host), removed: true });
    } else {
      this.#changed(host);
    }
    return this.connections();
  }

  /** The VMs of every connected host, or of one (`host`: its id). */
  vms(hostId?: string): VmSummary[] {
    return [...this.#hosts.values()]
      .filter((h) => hostId === undefined || h.id === hostId)
      .flatMap((h) => [...h.vms.values()].map((vm) => vm.summary()))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The VM a libvirt ref names, or undefined for a ref that is not one (a local VM's). */
  find(ref: string): LibvirtVm | undefined {
    const m = LIBVIRT_REF.exec(ref);
    if (!m) return undefined;
    const host = this.#hosts.get(m[1]!);
    if (!host || host.state !== 'connected')
      throw new VmdeskError(
        'not-found',
        host
          ? `${host.label} is not connected${host.error ? ` (${host.error})` : ''}: reconnect to it (vmdesk --connect ${host.uri} list).`
          : `No connection ${m[1]}: connect to its host first (vmdesk --connect URI list).`,
        { vm: ref },
      );
    const key = m[2]!;
    const vm = host.vms.get(key) ?? [...host.vms.values()].find((v) => v.name === key);
    if (!vm)
      throw new VmdeskError(
        'not-found',
        `No VM named or with id "${key}" on ${host.label}. Run \`vmdesk --connect ${host.uri} list\` to see its VMs.`,
        { vm: ref },
      );
    return vm;
  }

  /** A domain's XML from a host (`vmdesk import --from URI DOMAIN`); connects for the moment if needed. */
  async domainXml(uri: string, domain: string): Promise<string> {
    const known = this.#hosts.get(connectionIdOf(uri));
    const wasConnected = known?.state === 'connected';
    await this.connect(uri);
    const host = this.#hosts.get(connectionIdOf(uri))!;
    try {
      return await host.conn!.domainXml(domain, { inactive: true });
    } catch (err) {
      throw fromLibvirt(err, host, `Reading the domain "${domain}" from ${host.label}`);
    } finally {
      if (!wasConnected) await this.disconnect(host.id).catch(() => {});
    }
  }

  /** Closes every connection (the driver stops); remembered ones stay remembered. */
  async closeAll(): Promise<void> {
    await Promise.all(
      [...this.#hosts.values()].map(async (h) => {
        const conn = h.conn;
        h.conn = undefined;
        for (const vm of h.vms.values()) vm.dispose('vmdesk stopped.');
        h.vms.clear();
        h.state = 'disconnected';
        await conn?.close().catch(() => {});
      }),
    );
  }

  async #open(host: Host): Promise<HostConnection> {
    const lib = (this.#opts.load ?? loadLibvirt)();
    if (!lib.ok) {
      host.state = 'error';
      host.error = lib.reason;
      host.fix = undefined;
      this.#changed(host);
      throw new VmdeskError('unsupported', lib.reason);
    }
    host.state = 'connecting';
    host.error = undefined;
    host.fix = undefined;
    this.#changed(host);
    let conn: LibvirtConnection | undefined;
    try {
      conn = await lib.client.open(openUri(host.uri));
      const opened = conn;
      // Listening before the list is read: events meanwhile are replayed once it is in, and a
      // drop meanwhile fails the connect.
      host.conn = opened;
      const early = new Set<string>();
      let listed = false;
      opened.onDomainEvent((uuid) => (listed ? void this.#domainEvent(host, opened, uuid) : early.add(uuid)));
      opened.onClosed((reason) => this.#lost(host, opened, reason));
      const [hostname, libvirtVersion, domains] = await Promise.all([
        opened.hostname(),
        opened.libVersion(),
        opened.domains(),
      ]);
      host.hypervisor = { hostname, libvirtVersion };
      const vms = domains.map((d) => this.#vm(host, opened, d));
      await Promise.all(vms.map((vm) => vm.loadDefinition()));
      if (host.conn !== opened) throw new Error(host.error ?? `The connection to ${host.label} was lost.`);
      for (const vm of vms) host.vms.set(vm.uuid, vm);
      listed = true;
      for (const uuid of early) void this.#domainEvent(host, opened, uuid);
      host.state = 'connected';
      this.#opts.log?.(`connected to ${host.uri} (${hostname}, libvirt ${libvirtVersion}, ${domains.length} domains)`);
      this.#changed(host);
      for (const vm of host.vms.values()) this.#opts.events.emit('vm.changed', vm.summary());
      return this.#public(host);
    } catch (err) {
      if (host.conn === conn) host.conn = undefined;
      await conn?.close().catch(() => {});
      const message = err instanceof LibvirtError ? err.message : (err as Error).message;
      host.state = 'error';
      host.error = message;
      host.fix = connectFix(host.uri, message);
      this.#opts.log?.(`could not connect to ${host.uri}: ${message}`);
      this.#changed(host);
      throw new VmdeskError('invalid-state', `Could not connect to ${host.uri}: ${message}. ${host.fix}`, {
        uri: host.uri,
        fix: host.fix,
      });
    }
  }

  #vm(host: Host, conn: LibvirtConnection, info: Parameters<LibvirtVm['update']>[0]): LibvirtVm {
    const { events } = this.#opts;
    return new LibvirtVm({ id: host.id, label: host.label, uri: host.uri }, conn, info, {
      changed: (s) => events.emit('vm.changed', s),
      snapshots: (vm, snapshots) => events.emit('snapshot.changed', { vm, snapshots }),
      ...(tunnelFor(host.uri) ? { tunnel: tunnelFor(host.uri)! } : {}),
    });
  }

  /** A lifecycle event: the domain is read again (or it is gone, or new). */
  async #domainEvent(host: Host, conn: LibvirtConnection, uuid: string): Promise<void> {
    if (host.conn !== conn) return;
    try {
      const info = await conn.domain(uuid);
      if (host.conn !== conn) return;
      const vm = host.vms.get(uuid);
      if (vm) {
        await vm.loadDefinition();
        vm.update(info);
      } else {
        const added = this.#vm(host, conn, info);
        await added.loadDefinition();
        // Two events for a new domain (defined, then started) both land here: keep the first.
        if (host.conn !== conn) return;
        const already = host.vms.get(uuid);
        if (already) {
          already.update(info);
          return;
        }
        host.vms.set(uuid, added);
        this.#opts.events.emit('vm.changed', added.summary());
      }
    } catch (err) {
      if (err instanceof LibvirtError && err.code === VIR_ERR.NO_DOMAIN) {
        const vm = host.vms.get(uuid);
        if (vm && host.vms.delete(uuid)) this.#opts.events.emit('vm.removed', { id: vm.id });
      } else this.#opts.log?.(`reading domain ${uuid} on ${host.uri} after an event: ${(err as Error).message}`);
    }
  }

  #lost(host: Host, conn: LibvirtConnection, reason: string): void {
    if (host.conn !== conn) return;
    host.conn = undefined;
    host.error = `The connection to ${host.label} was lost (${reason}).`;
    this.#dropVms(host, host.error);
    void conn.close().catch(() => {});
    host.state = 'error';
    host.fix = `Reconnect when ${host.label} is reachable again.`;
    this.#opts.log?.(`${host.uri}: ${host.error}`);
    this.#changed(host);
  }

  /** The host's VMs leave the list; their consoles and screens end with `reason`. */
  #dropVms(host: Host, reason: string): void {
    for (const vm of host.vms.values()) {
      vm.dispose(reason);
      this.#opts.events.emit('vm.removed', { id: vm.id });
    }
    host.vms.clear();
  }

  #newHost(uri: string, remembered: boolean): Host {
    return {
      id: connectionIdOf(uri),
      uri,
      label: connectionLabel(uri),
      state: 'disconnected',
      remembered,
      vms: new Map(),
    };
  }

  #public(h: Host): HostConnection {
    return {
      id: h.id,
      uri: h.uri,
      label: h.label,
      kind: 'libvirt',
      state: h.state,
      ...(h.error ? { error: h.error } : {}),
      ...(h.fix ? { fix: h.fix } : {}),
      remembered: h.remembered,
      ...(h.hypervisor ? { hypervisor: h.hypervisor } : {}),
    };
  }

  #changed(h: Host): void {
    this.#opts.events.emit('host.connectionChanged', this.#public(h));
  }

  #remembered(): string[] {
    try {
      const data = JSON.parse(fs.readFileSync(this.#opts.file, 'utf8')) as { connections?: { uri?: unknown }[] };
      return (data.connections ?? [])
        .map((c) => c.uri)
        .filter((u): u is string => typeof u === 'string' && libvirtUriProblem(u) === undefined);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.#opts.log?.(`${this.#opts.file} could not be read (${(err as Error).message}); no connections remembered`);
      return [];
    }
  }

  #save(): void {
    const uris = [...this.#hosts.values()].filter((h) => h.remembered).map((h) => ({ uri: h.uri }));
    const tmp = `${this.#opts.file}.${process.pid}.tmp`;
    fs.mkdirSync(path.dirname(this.#opts.file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(tmp, JSON.stringify({ version: 1, connections: uris }, null, 2) + '\n', { mode: 0o600 });
    fs.renameSync(tmp, this.#opts.file);
  }
}

/**
 * How the driver reaches a TCP port on a remote libvirt host: for SSH URIs, `ssh -W` with the
 * URI's user, port and key (and the user's own ssh config, agent and known_hosts); for other
 * remote URIs, the host's address. Undefined for this computer (the port is reached directly).
 */
export function tunnelFor(uri: string): ((addr: string, port: number) => Promise<Duplex>) | undefined {
  const u = parseUri(uri);
  if (!u.host) return undefined;
  const remote = u.host.replace(/^\[|\]$/g, '');
  if (u.scheme === 'qemu+ssh' || u.scheme === 'qemu+libssh2' || u.scheme === 'qemu+libssh') {
    return async (addr, port) => {
      const args = ['-o', 'BatchMode=yes', '-W', `${addr.includes(':') ? `[${addr}]` : addr}:${port}`];
      if (u.port) args.push('-p', u.port);
      const keyfile = u.query.get('keyfile');
      if (keyfile) args.push('-i', keyfile);
      if (u.query.get('no_verify') === '1') args.push('-o', 'StrictHostKeyChecking=no');
      if (u.query.get('no_tty') === '1') args.push('-T');
      args.push('--', `${u.user ? `${u.user}@` : ''}${remote}`);
      const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-2000);
      });
      const duplex = Duplex.from({ readable: child.stdout, writable: child.stdin });
      child.on('error', (err) => duplex.destroy(new Error(`ssh could not run: ${err.message}`)));
      child.on('exit', (code) => {
        if (code)
          duplex.destroy(
            new Error(`The SSH tunnel to the VM's display ended: ${stderr.trim() || `ssh exited with ${code}`}`),
          );
      });
      duplex.on('close', () => child.kill());
      return duplex;
    };
  }
  return (addr, port) =>
    new Promise((resolve, reject) => {
      const target = addr === '127.0.0.1' || addr === '::1' ? remote : addr;
      const sock = net.createConnection(port, target);
      sock.once('connect', () => resolve(sock));
      sock.once('error', (err) =>
        reject(new Error(`Could not reach the VM's display at ${target}:${port}: ${err.message}.`)),
      );
    });
}
