/**
 * A domain of a libvirt host, seen through the same calls as a local VM (VmInstance): summary,
 * power, snapshots, serial and graphical consoles. Its state comes from libvirt (read after each
 * lifecycle event and each call), never guessed; libvirt's errors carry its own words and what to do.
 */
import { Duplex } from 'node:stream';
import { VmdeskError, type ErrorCode } from '../common/errors.js';
import type { CallParams, CallResults, SnapshotInfo } from '../common/contract.js';
import type { VmHost } from '../common/connection-types.js';
import { DEFINITION_VERSION, diskTarget, type VmDefinition, type VmState, type VmSummary } from '../common/vm-types.js';
import { SerialHub } from '../consoles/serial-hub.js';
import type { ByteStream } from '../consoles/byte-channel.js';
import { proxyVnc } from '../consoles/vnc-proxy.js';
import {
  DOMAIN_STATE,
  LibvirtError,
  VIR_ERR,
  type ConsoleStream,
  type DomainInfo,
  type LibvirtConnection,
} from '../../native/libvirt.js';
import { connectVnc, parseSnapshotXml, vncOfDomainXml } from './domain-facts.js';
import { parseDomainXml } from './domain-xml.js';

/**
 * What the list and the Overview show of a domain (memory, CPUs, firmware, disks, discs), read
 * from its XML the way an import reads it; undefined when the XML says too little to tell.
 */
export function definitionOfDomain(xml: string, uuid: string): VmDefinition | undefined {
  let parsed;
  try {
    parsed = parseDomainXml(xml);
  } catch {
    return undefined;
  }
  const i = parsed.input;
  const disks = [i.disk, ...(i.moreDisks ?? [])].flatMap((d) => (d?.path ? [d] : []));
  return {
    version: DEFINITION_VERSION,
    id: uuid,
    name: parsed.domainName,
    arch: i.arch ?? 'x86_64',
    memoryMiB: i.memoryMiB,
    cpus: i.cpus,
    accel: i.accel ?? 'auto',
    firmware: i.firmware ?? 'bios',
    disks: disks.map((d, k) => ({
      path: d.path!,
      target: diskTarget(k),
      format: d.format ?? 'raw',
      owned: false,
      readOnly: false,
    })),
    cdroms: i.cdrom ? [i.cdrom, ...(i.moreCdroms ?? [])] : [],
    boot: i.cdrom ? ['cdrom', 'disk'] : ['disk', 'cdrom'],
    network: { mode: 'user', forwards: [] },
    display: i.display ?? 'std',
    nvram: parsed.nvram ?? null,
    secureBoot: !!i.secureBoot,
    tpm: !!i.tpm,
    devices: { disk: i.diskBus ?? 'virtio', nic: i.nic ?? 'virtio' },
    clock: i.clock ?? 'utc',
    hyperv: !!i.hyperv,
    shares: [],
    sound: !!i.sound,
    clipboard: false,
    usb: [],
    ...(i.os ? { os: i.os } : {}),
    mdevs: [],
    createdAt: new Date(0).toISOString(),
  };
}

/** How a libvirt VM is named in the contract: `HOST/UUID`. */
export function libvirtVmId(hostId: string, uuid: string): string {
  return `${hostId}/${uuid}`;
}

/** libvirt's virDomainState (and the shut-off reason "crashed") as vmdesk's states. */
export function vmStateOf(state: number, reason: number): VmState {
  switch (state) {
    case DOMAIN_STATE.RUNNING:
    case DOMAIN_STATE.BLOCKED:
      return 'running';
    case DOMAIN_STATE.PAUSED:
    case DOMAIN_STATE.PMSUSPENDED:
      return 'paused';
    case DOMAIN_STATE.SHUTDOWN:
      return 'stopping';
    case DOMAIN_STATE.CRASHED:
      return 'crashed';
    case DOMAIN_STATE.SHUTOFF:
      // VIR_DOMAIN_SHUTOFF_CRASHED
      return reason === 3 ? 'crashed' : 'stopped';
    default:
      return 'stopped';
  }
}

/** libvirt's error as a VmdeskError: its message, then what to do where vmdesk knows. */
export function fromLibvirt(err: unknown, host: VmHost | { uri: string; label: string }, what: string): VmdeskError {
  if (err instanceof VmdeskError) return err;
  if (!(err instanceof LibvirtError)) return new VmdeskError('internal', `${what}: ${String(err)}`);
  const codes: Record<number, [ErrorCode, string]> = {
    [VIR_ERR.NO_DOMAIN]: ['not-found', `It is gone from ${host.label}: run \`vmdesk list\` to see what is there.`],
    [VIR_ERR.NO_DOMAIN_SNAPSHOT]: ['not-found', 'Run `vmdesk snapshot list VM` to see its snapshots.'],
    [VIR_ERR.OPERATION_INVALID]: ['invalid-state', 'Check its state with `vmdesk info VM`.'],
    [VIR_ERR.OPERATION_DENIED]: ['invalid-state', 'libvirt refused: check the permissions of your user on that host.'],
    [VIR_ERR.ACCESS_DENIED]: [
      'invalid-state',
      'libvirt refused: your user may not do this there (polkit or libvirt ACLs); ask its administrator, or use qemu:///session.',
    ],
    [VIR_ERR.OPERATION_TIMEOUT]: [
      'timeout',
      'The domain is busy with another job on that host: try again in a moment.',
    ],
    [VIR_ERR.AUTH_FAILED]: ['invalid-state', 'Check your SSH key or agent, and that your user may use libvirt there.'],
    [VIR_ERR.NO_SUPPORT]: ['unsupported', `The host ${host.label} does not support this.`],
    [VIR_ERR.NO_CONNECT]: ['invalid-state', `Reconnect to ${host.uri} (vmdesk --connect ${host.uri} list).`],
  };
  const [code, fix] = codes[err.code] ?? ['qemu-failed', ''];
  return new VmdeskError(code, `${what}: ${err.message}${fix ? `. ${fix}` : ''}`.replace('..', '.'), {
    libvirtCode: err.code,
  });
}

export class LibvirtVm {
  #info: DomainInfo;
  #definition?: VmDefinition;
  #hub?: SerialHub;
  /** Connections to the VM's display (a TCP socket, an ssh -W tunnel), ended by dispose(). */
  readonly #displays = new Set<Duplex>();
  #snapshots?: SnapshotInfo[];

  constructor(
    readonly host: Omit<VmHost, 'domain'>,
    private readonly conn: LibvirtConnection,
    info: DomainInfo,
    private readonly emit: {
      changed(vm: VmSummary): void;
      snapshots(id: string, list: SnapshotInfo[]): void;
      /** How to reach a TCP port of the host (a tunnel for SSH connections). */
      tunnel?: (addr: string, port: number) => Promise<Duplex>;
    },
  ) {
    this.#info = info;
  }

  get id(): string {
    return libvirtVmId(this.host.id, this.#info.uuid);
  }
  get uuid(): string {
    return this.#info.uuid;
  }
  get name(): string {
    return this.#info.name;
  }
  get state(): VmState {
    return vmStateOf(this.#info.state, this.#info.reason);
  }

  summary(): VmSummary {
    const state = this.state;
    return {
      id: this.id,
      name: this.#info.name,
      host: { ...this.host, domain: this.#info.name },
      state,
      ...(state === 'crashed' ? { reason: `libvirt says the domain crashed on ${this.host.label}.` } : {}),
      file: `${this.host.uri} (libvirt domain ${this.#info.name})`,
      ...(this.#definition ? { definition: this.#definition } : {}),
      ...(this.#snapshots ? { snapshots: { count: this.#snapshots.length, vmStateBytes: 0 } } : {}),
    };
  }

  /** Reads the domain's settings from its XML (at connect, and after libvirt says it changed). */
  async loadDefinition(): Promise<void> {
    try {
      this.#definition = definitionOfDomain(await this.conn.domainXml(this.#info.uuid), this.#info.uuid);
    } catch {
      // Gone meanwhile, or unreadable: the list shows the state without the settings.
    }
  }

  /** Reads the domain's state again (after an event or a call), and says so when it changed. */
  async refresh(): Promise<VmSummary> {
    const before = JSON.stringify(this.summary());
    this.#info = await this.#do('read the domain', () => this.conn.domain(this.#info.uuid));
    const now = this.summary();
    if (JSON.stringify(now) !== before) this.emit.changed(now);
    if (this.state === 'stopped' || this.state === 'crashed') this.#hub?.close('The VM stopped.');
    return now;
  }

  /** The domain as libvirt has it now (after an event that named it). */
  update(info: DomainInfo): VmSummary {
    this.#info = info;
    const s = this.summary();
    this.emit.changed(s);
    if (this.state === 'stopped' || this.state === 'crashed') this.#hub?.close('The VM stopped.');
    return s;
  }

  async start(_p?: CallParams<'vm.start'>): Promise<VmSummary> {
    if (this.state === 'running') return this.summary();
    if (this.state === 'paused') return this.resume();
    return this.#op('start', 'Starting');
  }

  /** ACPI power button through libvirt; with `wait`, until off (forced off after `timeoutMs`). */
  async shutdown(p: CallParams<'vm.shutdown'>): Promise<VmSummary> {
    if (this.state === 'stopped') return this.summary();
    await this.#op('shutdown', 'Shutting down');
    if (!p.wait) return this.summary();
    const deadline = Date.now() + (p.timeoutMs ?? 60_000);
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      if ((await this.refresh()).state === 'stopped') return this.summary();
    }
    return this.stop();
  }

  async stop(): Promise<VmSummary> {
    if (this.state === 'stopped') return this.summary();
    return this.#op('destroy', 'Forcing off');
  }
  reboot(): Promise<VmSummary> {
    return this.#op('reboot', 'Rebooting');
  }
  async pause(): Promise<VmSummary> {
    if (this.state === 'paused') return this.summary();
    return this.#op('suspend', 'Pausing');
  }
  async resume(): Promise<VmSummary> {
    if (this.state === 'running') return this.summary();
    return this.#op('resume', 'Resuming');
  }

  /** Undefines the domain (with its snapshots' metadata and NVRAM); libvirt keeps its disks. */
  async delete(): Promise<CallResults['vm.delete']> {
    if (this.state !== 'stopped' && this.state !== 'crashed')
      throw new VmdeskError(
        'invalid-state',
        `"${this.name}" is ${this.state} on ${this.host.label}: stop it before deleting it (vmdesk stop "${this.id}").`,
      );
    await this.#do(`Deleting "${this.name}"`, () => this.conn.undefine(this.#info.uuid));
    this.#hub?.close('The VM was deleted.');
    return {
      id: this.id,
      removed: [],
      kept: [],
      note: `The domain "${this.name}" is undefined on ${this.host.label}; libvirt keeps its disk images (remove them with virsh vol-delete if you do not need them).`,
    };
  }

  async snapshotList(): Promise<SnapshotInfo[]> {
    const list = await this.#do('Listing the snapshots', () => this.conn.snapshots(this.#info.uuid));
    const infos = list.map((s) => parseSnapshotXml(s.xml, s.current));
    // Parents before children, like local VMs' lists.
    const byName = new Map(infos.map((s) => [s.name, s]));
    const depth = (s: SnapshotInfo): number =>
      s.parent && byName.has(s.parent) ? 1 + depth(byName.get(s.parent)!) : 0;
    infos.sort((a, b) => depth(a) - depth(b) || a.createdAt.localeCompare(b.createdAt));
    this.#snapshots = infos;
    return infos;
  }

  async snapshotCreate(p: Omit<CallParams<'snapshot.create'>, 'vm'>): Promise<SnapshotInfo> {
    if (p.diskOnly)
      throw new VmdeskError(
        'unsupported',
        `vmdesk takes libvirt's internal snapshots (with memory while the VM runs); for a disk-only snapshot use virsh snapshot-create-as --disk-only on ${this.host.label}.`,
      );
    const xml = `<domainsnapshot><name>${escapeXml(p.name)}</name>${p.description ? `<description>${escapeXml(p.description)}</description>` : ''}</domainsnapshot>`;
    await this.#do(`Taking the snapshot "${p.name}"`, () => this.conn.snapshotCreate(this.#info.uuid, xml));
    const list = await this.#snapshotsChanged();
    return list.find((s) => s.name === p.name)!;
  }

  async snapshotRevert(name: string): Promise<VmSummary> {
    await this.#do(`Reverting to "${name}"`, () => this.conn.snapshotRevert(this.#info.uuid, name));
    await this.#snapshotsChanged();
    return this.refresh();
  }

  async snapshotDelete(name: string): Promise<SnapshotInfo[]> {
    await this.#do(`Deleting the snapshot "${name}"`, () => this.conn.snapshotDelete(this.#info.uuid, name));
    return this.#snapshotsChanged();
  }

  /** The serial console: one libvirt console stream shared by every viewer, with recent history. */
  serialHub(): SerialHub {
    if (this.state !== 'running' && this.state !== 'paused')
      throw new VmdeskError('invalid-state', `"${this.name}" is not running: start it to use its console.`);
    if (this.#hub && !this.#hub.isClosed) return this.#hub;
    const hub = new SerialHub(async () =>
      consoleDuplex(await this.#do('Opening the console', () => this.conn.openConsole(this.#info.uuid))),
    );
    this.#hub = hub;
    hub.connect(0).catch((err: unknown) => hub.close(err instanceof Error ? err.message : String(err)));
    return hub;
  }

  /** The graphical console: the domain's VNC server, reached directly or through the SSH tunnel. */
  vncStream(): ByteStream {
    if (this.state !== 'running' && this.state !== 'paused')
      throw new VmdeskError('invalid-state', `"${this.name}" is not running: start it to see its screen.`);
    return proxyVnc(
      (async () => {
        const xml = await this.#do('Reading the domain', () => this.conn.domainXml(this.#info.uuid));
        const vnc = vncOfDomainXml(xml);
        if (!vnc)
          throw new VmdeskError(
            'unsupported',
            `"${this.name}" has no VNC display on ${this.host.label} (add <graphics type='vnc'/> with virsh edit).`,
          );
        const display = await connectVnc(vnc, this.emit.tunnel);
        this.#displays.add(display);
        display.once('close', () => this.#displays.delete(display));
        return display;
      })(),
    );
  }

  /** The VM leaves the list (its host was disconnected or lost): its viewers end with `reason`. */
  dispose(reason: string): void {
    this.#hub?.close(reason);
    for (const d of this.#displays) d.destroy(new Error(reason));
    this.#displays.clear();
  }

  async #snapshotsChanged(): Promise<SnapshotInfo[]> {
    const list = await this.snapshotList();
    this.emit.snapshots(this.id, list);
    return list;
  }

  async #op(op: Parameters<LibvirtConnection['lifecycle']>[1], what: string): Promise<VmSummary> {
    await this.#do(`${what} "${this.name}" on ${this.host.label}`, () => this.conn.lifecycle(this.#info.uuid, op));
    return this.refresh();
  }

  async #do<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw fromLibvirt(err, this.host, what);
    }
  }
}

/** A console stream as a Node duplex (what SerialHub reads). */
function consoleDuplex(cs: ConsoleStream): Duplex {
  const d = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      if (cs.write(chunk)) done();
      else cs.onDrain(() => done());
    },
    destroy(err, done) {
      cs.close();
      done(err);
    },
  });
  cs.onData((chunk) => d.push(chunk));
  cs.onEnd(() => {
    d.push(null);
    d.destroy();
  });
  return d;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
