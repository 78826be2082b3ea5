/**
 * libvirt domain XML from a VM definition, and a define request from domain XML. Pure: the facts
 * of the host (firmware files, the domain type) come in as arguments, so golden files pin the
 * export; parsing and building both go through fast-xml-parser (never string surgery), so names
 * such as `<&'"` are escaped and a hostile document is refused before it is read.
 *
 * What libvirt cannot say, or vmdesk cannot take over, is said in one sentence each: `notes` of an
 * export, `dropped` of an import.
 */
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import type { DefineVmInput } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import {
  diskIsReadOnly,
  MAX_CDROMS,
  MAX_DISKS,
  type BootDevice,
  type PortForward,
  type VmDefinition,
} from '../common/vm-types.js';

/** What the export needs to know about the host beside the definition. */
export interface DomainFacts {
  /** `kvm` (hardware acceleration) or `qemu` (TCG): what the VM's accel resolves to here. */
  domainType: 'kvm' | 'qemu';
  /** The UEFI firmware vmdesk starts the VM with (a UEFI VM): its code file, and whether the build
   * requires SMM (the Secure Boot builds). */
  uefi?: { code: string; smm: boolean };
  /** passt is installed: user networking with port forwards is `<backend type='passt'/>`, the only
   * backend libvirt 9 lets say `<portForward>`. Without it, the forwards are left to the notes. */
  passt: boolean;
}

/** libosinfo's namespace for `<metadata>` (what virt-install and virt-manager write). */
export const LIBOSINFO_NS = 'http://libosinfo.org/xmlns/libvirt/domain/1.0';

/** The MAC vmdesk gives a VM (qemu/argv.ts macFromId; repeated here: this layer cannot import it). */
function macOf(id: string): string {
  const hex = id.replace(/-/g, '');
  return `52:54:00:${[hex.slice(-6, -4), hex.slice(-4, -2), hex.slice(-2)].join(':')}`;
}

type XNode = Record<string, unknown>;

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  format: true,
  indentBy: '  ',
  suppressEmptyNode: true,
  // "true" stays an attribute value, never a bare attribute name (not XML).
  suppressBooleanAttributes: false,
  processEntities: true,
});

/** The boot order vmdesk gives each device (qemu/argv.ts's bootindex, as libvirt's `<boot order>`). */
function bootOrders(def: VmDefinition): { cdrom: number[]; disk: number[]; network: number[] } {
  const count: Record<BootDevice, number> = {
    cdrom: def.cdroms.length,
    disk: def.disks.length,
    network: def.network.mode === 'user' ? 1 : 0,
  };
  const out = { cdrom: [] as number[], disk: [] as number[], network: [] as number[] };
  let next = 1;
  for (const kind of def.boot) for (let i = 0; i < count[kind]; i++) out[kind][i] = next++;
  return out;
}

/**
 * The domain XML of `def` and what it leaves out. MUST NOT read the host: everything about it is
 * in `facts`. The XML validates against libvirt's schema (virt-xml-validate) and boots the same
 * machine: q35 (x86_64) or virt (aarch64), the same firmware, disks in their formats, discs, NIC,
 * serial console, VNC, TPM, vGPUs, shares, sound and clipboard.
 */
export function domainXmlFromDefinition(def: VmDefinition, facts: DomainFacts): { xml: string; notes: string[] } {
  const notes: string[] = [];
  const x86 = def.arch === 'x86_64';
  const uefi = def.firmware === 'uefi' || !x86;
  const boot = bootOrders(def);
  const withBoot = (order: number | undefined) => (order ? { boot: { '@order': String(order) } } : {});

  const os: XNode = { type: { '@arch': def.arch, '@machine': x86 ? 'q35' : 'virt', '#text': 'hvm' } };
  let smm = false;
  if (uefi) {
    if (!facts.uefi) throw new Error('domainXmlFromDefinition: a UEFI VM without its firmware files');
    smm = x86 && facts.uefi.smm;
    os['loader'] = {
      '@readonly': 'yes',
      ...(smm ? { '@secure': 'yes' } : {}),
      '@type': 'pflash',
      '#text': facts.uefi.code,
    };
    if (def.nvram) os['nvram'] = def.nvram;
    else notes.push('The VM has no UEFI variable store yet: libvirt makes one from its firmware template.');
  }

  const hyperv = def.hyperv && x86 && facts.domainType === 'kvm';
  if (def.hyperv && !hyperv)
    notes.push('Hyper-V enlightenments are left out: they need KVM (this domain runs under TCG).');
  const features: XNode = { acpi: '' };
  if (x86) features['apic'] = '';
  if (hyperv)
    features['hyperv'] = {
      '@mode': 'custom',
      relaxed: { '@state': 'on' },
      vapic: { '@state': 'on' },
      spinlocks: { '@state': 'on', '@retries': '8191' },
      vpindex: { '@state': 'on' },
      runtime: { '@state': 'on' },
      synic: { '@state': 'on' },
      stimer: { '@state': 'on' },
      reset: { '@state': 'on' },
      frequencies: { '@state': 'on' },
      tlbflush: { '@state': 'on' },
      ipi: { '@state': 'on' },
    };
  if (smm) features['smm'] = { '@state': 'on' };

  const clock: XNode = { '@offset': def.clock };
  if (hyperv) clock['timer'] = [{ '@name': 'hypervclock', '@present': 'yes' }];

  // Discs: q35's AHCI (sata) on x86_64, virtio-scsi on aarch64, as vmdesk's own QEMU has them.
  const disks: XNode[] = [];
  const cdBus = x86 ? 'sata' : 'scsi';
  def.cdroms.forEach((iso, i) => {
    disks.push({
      '@type': 'file',
      '@device': 'cdrom',
      driver: { '@name': 'qemu', '@type': 'raw' },
      ...(iso ? { source: { '@file': iso } } : {}),
      target: { '@dev': `sd${String.fromCharCode(97 + i)}`, '@bus': cdBus },
      readonly: '',
      ...withBoot(boot.cdrom[i]),
    });
  });
  const sata = def.devices.disk === 'sata';
  def.disks.forEach((d, i) => {
    // SATA disks come after the discs on the one AHCI controller libvirt gives them.
    const dev = sata ? `sd${String.fromCharCode(97 + def.cdroms.length + i)}` : d.target;
    disks.push({
      '@type': 'file',
      '@device': 'disk',
      driver: { '@name': 'qemu', '@type': d.format },
      source: { '@file': d.path },
      target: { '@dev': dev, '@bus': sata ? 'sata' : 'virtio' },
      ...(diskIsReadOnly(d) ? { readonly: '' } : {}),
      ...withBoot(boot.disk[i]),
    });
    if (d.backing)
      notes.push(
        `The disk ${d.target} is a linked clone's overlay on ${d.backing}: libvirt reads that base through the qcow2's backing file, so it must stay where it is.`,
      );
  });
  if (def.disks.length > 0 || def.nvram)
    notes.push(
      "The domain uses this VM's files in place (disks and UEFI variables): never run it in vmdesk and libvirt at once. " +
        "Under qemu:///system libvirt's QEMU runs as its own user (libvirt-qemu on Debian): copy the files to /var/lib/libvirt/images (and change the paths), or give that user access to them.",
    );

  const controllers: XNode[] = [{ '@type': 'usb', '@model': 'qemu-xhci' }];
  if (!x86 && def.cdroms.length > 0) controllers.push({ '@type': 'scsi', '@model': 'virtio-scsi' });

  const interfaces: XNode[] = [];
  if (def.network.mode === 'user') {
    const forwards = def.network.forwards;
    const passt = forwards.length > 0 && facts.passt;
    interfaces.push({
      '@type': 'user',
      mac: { '@address': macOf(def.id) },
      model: { '@type': def.devices.nic },
      ...(passt
        ? {
            backend: { '@type': 'passt' },
            portForward: forwards.map((f: PortForward) => ({
              '@proto': f.proto,
              '@address': f.hostAddr,
              range: { '@start': String(f.hostPort), '@to': String(f.guestPort) },
            })),
          }
        : {}),
      ...withBoot(boot.network[0]),
    });
    if (forwards.length > 0 && !passt)
      notes.push(
        `The port forwards (${forwards.map((f) => `${f.proto} ${f.hostAddr}:${f.hostPort} → ${f.guestPort}`).join(', ')}) are left out: ` +
          "libvirt says port forwards only for passt's user networking, and passt is not installed here. Install passt and export again, " +
          "or forward them with a libvirt network's NAT rules.",
      );
    if (passt)
      notes.push(
        "User networking uses passt (<backend type=\"passt\"/>), the only libvirt backend with port forwards: the host that runs the domain needs passt installed and a libvirt that runs it (Debian 12's libvirt 9.0 refuses it with \"Invalid value for attribute 'type' in element 'backend'\"; there, remove the <backend> and <portForward> elements and forward the ports another way). Under passt the guest gets the host's address and routes, not 10.0.2.15.",
      );
  }

  const display = def.display !== 'none';
  const mdevs = def.mdevs ?? [];
  let ramfbGiven = false;
  const hostdevs: XNode[] = mdevs.map((m) => {
    const shows = display && m.display;
    const ramfb = shows && !ramfbGiven;
    if (ramfb) ramfbGiven = true;
    return {
      '@mode': 'subsystem',
      '@type': 'mdev',
      '@managed': 'no',
      '@model': 'vfio-pci',
      '@display': shows ? 'on' : 'off',
      ...(ramfb ? { '@ramfb': 'on' } : {}),
      source: { address: { '@uuid': m.uuid } },
    };
  });
  if (mdevs.length > 0)
    notes.push(
      `The vGPU${mdevs.length === 1 ? '' : 's'} (${mdevs.map((m) => `${m.type} ${m.uuid} on ${m.parent}`).join(', ')}) must exist on the host that runs the domain (vmdesk mdev create or mdevctl) before it starts.`,
    );
  for (const u of def.usb ?? [])
    hostdevs.push({
      '@mode': 'subsystem',
      '@type': 'usb',
      '@managed': 'no',
      // vmdesk plugs the device in when it appears; libvirt's nearest is to start without it.
      source: {
        '@startupPolicy': 'optional',
        vendor: { '@id': `0x${u.vendorId}` },
        product: { '@id': `0x${u.productId}` },
      },
    });

  const filesystems: XNode[] = [];
  let sharedMemory = false;
  for (const s of def.shares ?? []) {
    if (s.readOnly) {
      // libvirt 9 refuses read-only virtio-fs: 9p (QEMU serves the folder itself) keeps it read-only.
      filesystems.push({
        '@type': 'mount',
        '@accessmode': 'mapped',
        source: { '@dir': s.path },
        target: { '@dir': s.tag },
        readonly: '',
      });
    } else {
      sharedMemory = true;
      filesystems.push({
        '@type': 'mount',
        '@accessmode': 'passthrough',
        driver: { '@type': 'virtiofs' },
        source: { '@dir': s.path },
        target: { '@dir': s.tag },
      });
    }
  }
  if (sharedMemory)
    notes.push(
      'The shared folders use virtio-fs: libvirt starts virtiofsd for them (on Debian /usr/libexec/virtiofsd, package virtiofsd or qemu-system-common) and gives the guest shared memory (<memoryBacking> with memfd, set in this XML).',
    );
  if ((def.shares ?? []).some((s) => s.readOnly))
    notes.push(
      'Read-only shared folders use 9p (libvirt 9 cannot make virtio-fs read-only): mount them in the guest with mount -t 9p -o trans=virtio TAG DIR.',
    );

  const graphics: XNode[] = [];
  if (display) {
    graphics.push({ '@type': 'vnc', '@autoport': 'yes', listen: { '@type': 'address', '@address': '127.0.0.1' } });
    // A dma-buf vGPU needs an OpenGL context to show; egl-headless gives it one with VNC alone.
    if (mdevs.some((m) => m.display)) graphics.push({ '@type': 'egl-headless' });
  }
  const video = !display || ramfbGiven ? 'none' : x86 ? (def.display === 'virtio' ? 'virtio' : 'vga') : 'virtio';

  const channels: XNode[] = [{ '@type': 'unix', target: { '@type': 'virtio', '@name': 'org.qemu.guest_agent.0' } }];
  if (def.clipboard && display)
    channels.push({
      '@type': 'qemu-vdagent',
      source: { clipboard: { '@copypaste': 'yes' } },
      target: { '@type': 'virtio', '@name': 'com.redhat.spice.0' },
    });

  if (def.tpm)
    notes.push(
      "The TPM starts empty under libvirt (its swtpm keeps state in /var/lib/libvirt/swtpm): what the guest sealed in vmdesk's TPM (BitLocker keys, Windows Hello) does not come along.",
    );
  if (def.sound)
    notes.push(
      'The sound card plays through libvirt\'s audio backend: with a VNC display that is none (silent) unless you add an <audio> element, e.g. <audio id="1" type="pulseaudio"/> for a session daemon.',
    );

  const devices: XNode = {
    disk: disks,
    controller: controllers,
    ...(filesystems.length > 0 ? { filesystem: filesystems } : {}),
    ...(interfaces.length > 0 ? { interface: interfaces } : {}),
    serial: { '@type': 'pty', target: { '@port': '0' } },
    console: { '@type': 'pty', target: { '@type': 'serial', '@port': '0' } },
    channel: channels,
    input: [
      ...(display ? [{ '@type': 'tablet', '@bus': 'usb' }] : []),
      ...(display && !x86 ? [{ '@type': 'keyboard', '@bus': 'usb' }] : []),
    ],
    ...(def.tpm
      ? { tpm: { '@model': x86 ? 'tpm-crb' : 'tpm-tis', backend: { '@type': 'emulator', '@version': '2.0' } } }
      : {}),
    ...(graphics.length > 0 ? { graphics } : {}),
    ...(def.sound ? { sound: { '@model': 'ich9' } } : {}),
    video: { model: { '@type': video } },
    ...(hostdevs.length > 0 ? { hostdev: hostdevs } : {}),
    memballoon: { '@model': 'none' },
  };

  const domain: XNode = {
    '@type': facts.domainType,
    name: def.name,
    uuid: def.id,
    ...(def.os
      ? {
          metadata: {
            'libosinfo:libosinfo': {
              '@xmlns:libosinfo': LIBOSINFO_NS,
              'libosinfo:os': { '@id': def.os.id },
            },
          },
        }
      : {}),
    memory: { '@unit': 'MiB', '#text': String(def.memoryMiB) },
    ...(sharedMemory ? { memoryBacking: { source: { '@type': 'memfd' }, access: { '@mode': 'shared' } } } : {}),
    vcpu: { '@placement': 'static', '#text': String(def.cpus) },
    os,
    features,
    // The host's own CPU under KVM; under TCG every feature QEMU emulates (vmdesk's -cpu max).
    cpu: facts.domainType === 'kvm' ? { '@mode': 'host-passthrough' } : { '@mode': 'maximum' },
    clock,
    on_poweroff: 'destroy',
    on_reboot: 'restart',
    on_crash: 'destroy',
    devices,
  };
  const xml = builder.build({ domain }) as string;
  return { xml, notes };
}

// ---------------------------------------------------------------------------------------------
// Import

/** Device lists: always arrays, whether the document has one element or many. */
const LISTS = new Set([
  'disk',
  'interface',
  'hostdev',
  'filesystem',
  'controller',
  'serial',
  'console',
  'channel',
  'input',
  'graphics',
  'video',
  'sound',
  'tpm',
  'portForward',
  'range',
  'feature',
  'timer',
]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // libvirt writes no entities but the five predefined ones; a DOCTYPE (billion laughs) is refused
  // before parsing (parseDomainXml), and these limits bound what could still slip through.
  processEntities: { enabled: true, maxEntityCount: 0, maxTotalExpansions: 100_000, maxExpandedLength: 1_000_000 },
  isArray: (name) => LISTS.has(name),
});

const obj = (x: unknown): XNode => (x && typeof x === 'object' && !Array.isArray(x) ? (x as XNode) : {});
const list = (x: unknown): XNode[] => (Array.isArray(x) ? x.map(obj) : x === undefined ? [] : [obj(x)]);
const text = (x: unknown): string | undefined =>
  typeof x === 'string' ? x : typeof obj(x)['#text'] === 'string' ? (obj(x)['#text'] as string) : undefined;
const attr = (n: XNode, name: string): string | undefined =>
  typeof n[`@${name}`] === 'string' ? (n[`@${name}`] as string) : undefined;

const UNITS: Record<string, number> = {
  b: 1,
  byte: 1,
  bytes: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
};

/** `<memory unit='GiB'>2</memory>` in MiB (libvirt's default unit is KiB; units are case-blind). */
export function memoryMiBOf(node: unknown): { mib: number; exact: boolean } | undefined {
  const value = text(node)?.trim();
  if (!value || !/^\d+$/.test(value)) return undefined;
  const unit = (attr(obj(node), 'unit') ?? 'KiB').toLowerCase();
  const scale = UNITS[unit];
  if (!scale) return undefined;
  const bytes = Number(value) * scale;
  const mib = bytes / 1024 ** 2;
  return { mib: Math.max(1, Math.round(mib)), exact: Number.isInteger(mib) };
}

export interface ParsedDomain {
  /** What vmdesk's define takes (name: the domain's, or the one asked for). */
  input: DefineVmInput;
  /** One sentence for each thing of the domain vmdesk did not carry over. */
  dropped: string[];
  /** The domain's UEFI variable store, when it names one (the importer may copy it). */
  nvram?: string;
  /** The domain's own name. */
  domainName: string;
}

const ORDINALS = ['first', 'second', 'third', 'fourth', 'fifth', 'sixth', 'seventh', 'eighth'];
const nth = (i: number) => ORDINALS[i] ?? `#${i + 1}`;

function invalid(message: string): VmdeskError {
  return new VmdeskError('invalid-argument', message, { field: 'xml' });
}

/** Elements of `<domain>` that say nothing vmdesk must carry (or that it reads below). */
const DOMAIN_KNOWN = new Set([
  '@type',
  '@id',
  '@xmlns:qemu',
  'name',
  'uuid',
  'genid',
  'title',
  'description',
  'metadata',
  'memory',
  'currentMemory',
  'memoryBacking',
  'vcpu',
  'os',
  'features',
  'cpu',
  'clock',
  'on_poweroff',
  'on_reboot',
  'on_crash',
  'on_lockfailure',
  'pm',
  'devices',
  'resource',
  'seclabel',
  'sysinfo',
]);

/** Devices vmdesk always has its own of, or that it reads below: nothing to say when it skips them. */
const DEVICES_KNOWN = new Set([
  'emulator',
  'disk',
  'controller',
  'interface',
  'hostdev',
  'filesystem',
  'serial',
  'console',
  'channel',
  'input',
  'graphics',
  'video',
  'sound',
  'audio',
  'tpm',
  'memballoon',
]);

/**
 * The define request for a domain's XML, and what was left out. MUST refuse (invalid-argument,
 * with a sentence) a document that is not well-formed, has a DOCTYPE, or is not a `<domain>`;
 * everything else it maps or lists in `dropped`. Reads no files: the define checks the disks.
 */
export function parseDomainXml(xml: string, opts: { name?: string } = {}): ParsedDomain {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml))
    throw invalid(
      'The domain XML has a DOCTYPE or entity declarations, which libvirt never writes: give the XML that virsh dumpxml prints.',
    );
  const valid = XMLValidator.validate(xml);
  if (valid !== true)
    throw invalid(
      `This is not well-formed XML (line ${valid.err.line}, column ${valid.err.col}: ${valid.err.msg}). Give the XML that virsh dumpxml DOMAIN prints.`,
    );
  const doc = obj(parser.parse(xml));
  const roots = Object.keys(doc).filter((k) => !k.startsWith('?'));
  const dom = obj(doc['domain']);
  if (roots.length !== 1 || roots[0] !== 'domain' || !attr(dom, 'type'))
    throw invalid(
      `This XML is not a libvirt domain: its root is <${roots[0] ?? 'nothing'}>, not <domain type="...">. Give the XML that virsh dumpxml DOMAIN prints.`,
    );
  const dropped: string[] = [];
  const domainName = text(dom['name'])?.trim() ?? '';
  const name = opts.name ?? domainName;
  if (!name) throw invalid('The domain has no <name>: give the VM a name with --name NAME.');

  // Memory and CPUs.
  const mem = memoryMiBOf(dom['memory']);
  if (!mem)
    throw invalid(
      `The domain's <memory> is not a size libvirt writes (a whole number with a unit such as KiB, MiB or GiB): ${JSON.stringify(text(dom['memory']) ?? '')}.`,
    );
  if (!mem.exact)
    dropped.push(`the memory's last fraction of a MiB: vmdesk gives whole MiB, so the VM gets ${mem.mib} MiB.`);
  const current = memoryMiBOf(dom['currentMemory']);
  if (current && current.mib < mem.mib)
    dropped.push(
      `the balloon target of ${current.mib} MiB (<currentMemory>): vmdesk VMs have no balloon and get all ${mem.mib} MiB.`,
    );
  const vcpuNode = dom['vcpu'];
  const cpus = Number(text(vcpuNode)?.trim() ?? '1');
  if (!Number.isInteger(cpus) || cpus < 1)
    throw invalid(`The domain's <vcpu> is not a CPU count: ${JSON.stringify(text(vcpuNode) ?? '')}.`);
  const currentCpus = attr(obj(vcpuNode), 'current');
  if (currentCpus && Number(currentCpus) !== cpus)
    dropped.push(
      `the ${currentCpus} CPUs online at boot (<vcpu current>): vmdesk has no CPU hot-plug, so the VM gets all ${cpus}.`,
    );

  // The machine and its firmware.
  const osNode = obj(dom['os']);
  const typeNode = obj(osNode['type']);
  const osType = text(osNode['type'])?.trim() ?? 'hvm';
  if (osType !== 'hvm') throw invalid(`The domain is a ${osType} guest: vmdesk runs full virtual machines (hvm) only.`);
  const arch = attr(typeNode, 'arch') ?? 'x86_64';
  if (arch !== 'x86_64' && arch !== 'aarch64')
    throw invalid(`The domain is an ${arch} machine: vmdesk runs x86_64 and aarch64 VMs only.`);
  const machine = attr(typeNode, 'machine') ?? '';
  const vmdeskMachine = arch === 'x86_64' ? 'q35' : 'virt';
  if (machine && !machine.includes(vmdeskMachine))
    dropped.push(
      `the machine type ${machine}: vmdesk's ${arch} VMs are ${vmdeskMachine}, so the guest sees a newer chipset (Linux adapts; Windows may ask to be activated again).`,
    );
  if (osNode['kernel'] !== undefined)
    dropped.push(
      `direct kernel boot (${text(osNode['kernel']) ?? 'a kernel'}): vmdesk boots from the VM's disks and discs.`,
    );
  const loader = obj(osNode['loader']);
  const firmwareAttr = attr(osNode, 'firmware');
  const uefi = arch === 'aarch64' || firmwareAttr === 'efi' || attr(loader, 'type') === 'pflash';
  const fwFeatures = list(obj(osNode['firmware'])['feature']);
  const secureBoot =
    uefi &&
    (attr(loader, 'secure') === 'yes' ||
      fwFeatures.some((f) => attr(f, 'name') === 'secure-boot' && attr(f, 'enabled') === 'yes'));
  const nvram = text(osNode['nvram'])?.trim() || undefined;

  // Features and clock.
  const features = obj(dom['features']);
  const hv = obj(features['hyperv']);
  const hyperv =
    features['hyperv'] !== undefined &&
    (attr(hv, 'mode') === 'passthrough' || Object.values(hv).some((x) => attr(obj(x), 'state') === 'on'));
  const clockNode = obj(dom['clock']);
  const offset = attr(clockNode, 'offset') ?? 'utc';
  const basis = attr(clockNode, 'basis');
  let clock: 'utc' | 'localtime' = 'utc';
  if (offset === 'localtime' || (offset === 'variable' && basis === 'localtime')) clock = 'localtime';
  else if (offset !== 'utc' && !(offset === 'variable' && basis !== 'localtime'))
    dropped.push(`the clock offset "${offset}": vmdesk keeps the clock in UTC or local time; this VM's is UTC.`);
  if (offset === 'variable' && attr(clockNode, 'adjustment') && attr(clockNode, 'adjustment') !== '0')
    dropped.push(
      `the clock adjustment of ${attr(clockNode, 'adjustment')} s: vmdesk starts the clock at the host's time.`,
    );

  // Devices.
  const devices = obj(dom['devices']);
  const disks: { path: string; format?: 'qcow2' | 'raw'; bus: string; target: string }[] = [];
  const cdroms: string[] = [];
  for (const d of list(devices['disk'])) {
    const device = attr(d, 'device') ?? 'disk';
    const type = attr(d, 'type') ?? 'file';
    const target = attr(obj(d['target']), 'dev') ?? '?';
    const bus = attr(obj(d['target']), 'bus') ?? '';
    const source = obj(d['source']);
    const file = attr(source, 'file');
    const format = attr(obj(d['driver']), 'type');
    const label = `the ${device === 'cdrom' ? 'CD-ROM drive' : device} ${target}`;
    const where =
      type === 'file'
        ? file
        : type === 'block'
          ? attr(source, 'dev')
          : type === 'volume'
            ? `volume ${attr(source, 'volume') ?? '?'} of pool ${attr(source, 'pool') ?? '?'}`
            : type === 'network'
              ? `${attr(source, 'protocol') ?? 'network'} ${attr(source, 'name') ?? ''}`.trim()
              : type;
    if (device === 'floppy' || device === 'lun') {
      dropped.push(
        `${label} (${where ?? 'empty'}): vmdesk VMs have no ${device === 'floppy' ? 'floppy drives' : 'SCSI LUN passthrough'}.`,
      );
      continue;
    }
    if (type !== 'file') {
      const fix =
        type === 'volume'
          ? ` (find its file with virsh vol-path --pool ${attr(source, 'pool') ?? 'POOL'} ${attr(source, 'volume') ?? 'VOLUME'} and add it with vmdesk disk add VM --file PATH)`
          : '';
      dropped.push(`${label} (${where ?? type}): vmdesk uses image files only${fix}.`);
      continue;
    }
    if (device === 'cdrom') {
      if (!file) continue; // an empty drive: vmdesk always has one
      if (cdroms.length >= MAX_CDROMS) {
        dropped.push(`${label} (${file}): a vmdesk VM has at most ${MAX_CDROMS} CD-ROM drives.`);
        continue;
      }
      cdroms.push(file);
      continue;
    }
    if (!file) {
      dropped.push(`${label}: it names no image file.`);
      continue;
    }
    if (format !== undefined && format !== 'qcow2' && format !== 'raw') {
      dropped.push(
        `${label} (${file}, ${format}): vmdesk uses qcow2 and raw images; convert it with qemu-img convert -O qcow2 ${file} NEW.qcow2 and add it with vmdesk disk add VM --file NEW.qcow2.`,
      );
      continue;
    }
    if (disks.length >= MAX_DISKS) {
      dropped.push(`${label} (${file}): a vmdesk VM has at most ${MAX_DISKS} disks.`);
      continue;
    }
    if (d['readonly'] !== undefined) dropped.push(`${label}'s read-only flag (${file}): vmdesk attaches it writable.`);
    if (d['shareable'] !== undefined)
      dropped.push(`${label}'s shareable flag (${file}): vmdesk locks a disk to one running VM.`);
    disks.push({ path: file, ...(format ? { format } : {}), bus, target });
  }
  // One bus for every disk: SATA when the guest booted from SATA or IDE (it may have no virtio
  // driver, e.g. Windows), virtio otherwise.
  const firstBus = disks[0]?.bus ?? 'virtio';
  const diskBus: 'virtio' | 'sata' = firstBus === 'sata' || firstBus === 'ide' ? 'sata' : 'virtio';
  for (const d of disks) {
    const now = diskBus === 'sata' ? 'sata' : 'virtio';
    const was = d.bus === 'ide' ? 'sata' : d.bus || 'virtio';
    if (was !== now)
      dropped.push(
        `the ${d.bus || 'default'} bus of the disk ${d.target}: vmdesk puts all of a VM's disks on one bus, here ${now}${now === 'virtio' ? ' (the guest needs virtio drivers)' : ''}.`,
      );
  }

  // Network: one user-mode NIC.
  let nic: 'virtio' | 'e1000e' = 'virtio';
  const forwards: NonNullable<DefineVmInput['forwards']> = [];
  const nics = list(devices['interface']);
  nics.forEach((n, i) => {
    const type = attr(n, 'type') ?? '?';
    const source = obj(n['source']);
    const what = `${type}${attr(source, 'network') ? ` ${attr(source, 'network')}` : attr(source, 'bridge') ? ` ${attr(source, 'bridge')}` : attr(source, 'dev') ? ` ${attr(source, 'dev')}` : ''}`;
    if (i > 0) {
      dropped.push(`the ${nth(i)} NIC (${what}): vmdesk VMs have one user-mode network.`);
      return;
    }
    if (type !== 'user')
      dropped.push(
        `the NIC's connection to ${what}: vmdesk VMs reach the network through QEMU's user-mode NAT (the host reaches the guest through port forwards: vmdesk forward add).`,
      );
    const model = attr(obj(n['model']), 'type');
    if (model === 'virtio' || model === 'e1000e') nic = model;
    else {
      nic = 'e1000e';
      dropped.push(
        `the NIC model ${model ?? "(libvirt's default, rtl8139)"}: vmdesk offers virtio and e1000e; the VM gets e1000e, which Windows and Linux drive out of the box.`,
      );
    }
    const mac = attr(obj(n['mac']), 'address');
    if (mac)
      dropped.push(
        `the MAC address ${mac}: vmdesk derives the VM's MAC from its id (a guest that ties its network settings to the MAC needs them updated).`,
      );
    for (const pf of list(n['portForward'])) {
      const proto = attr(pf, 'proto');
      const address = attr(pf, 'address');
      for (const r of list(pf['range'])) {
        const start = Number(attr(r, 'start'));
        const to = Number(attr(r, 'to') ?? attr(r, 'start'));
        const label = `the port forward ${proto ?? '?'} ${address ? `${address}:` : ''}${attr(r, 'start') ?? '?'}${attr(r, 'end') ? `-${attr(r, 'end')}` : ''} → ${attr(r, 'to') ?? attr(r, 'start') ?? '?'}`;
        if ((proto !== 'tcp' && proto !== 'udp') || !(start >= 1 && start <= 65535) || !(to >= 1 && to <= 65535)) {
          dropped.push(`${label}: vmdesk forwards single tcp or udp ports.`);
          continue;
        }
        if ((attr(r, 'end') && attr(r, 'end') !== attr(r, 'start')) || attr(r, 'exclude') === 'yes') {
          dropped.push(`${label}: vmdesk forwards single ports; add each one with vmdesk forward add.`);
          continue;
        }
        if (address && !/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) {
          dropped.push(`${label}: vmdesk listens on IPv4 addresses only.`);
          continue;
        }
        if (!address)
          dropped.push(
            `${label} listening on every address: vmdesk listens on 127.0.0.1 (this computer only); add it with tcp:0.0.0.0:${start}:${to} to open it to the network.`,
          );
        forwards.push({ proto, hostAddr: address ?? '127.0.0.1', hostPort: start, guestPort: to });
      }
    }
  });
  if (nics.length === 0)
    dropped.push(
      'the absence of a NIC: every new vmdesk VM has user-mode networking (turn it off with vmdesk set VM --network none).',
    );

  // Display, sound, clipboard.
  const graphics = list(devices['graphics']);
  const videoModel = attr(obj(list(devices['video'])[0]?.['model']), 'type');
  let display: 'std' | 'virtio' | 'none' = 'none';
  if (graphics.some((g) => ['vnc', 'spice', 'sdl', 'dbus', 'rdp'].includes(attr(g, 'type') ?? '')))
    display = videoModel === 'virtio' ? 'virtio' : 'std';
  for (const g of graphics) {
    const t = attr(g, 'type');
    if (t === 'spice' || t === 'sdl' || t === 'rdp' || t === 'dbus')
      dropped.push(`the ${t} display: vmdesk shows the screen over VNC (in its window, vmdesk web, or a VNC viewer).`);
  }
  if (
    display !== 'none' &&
    videoModel &&
    !['vga', 'virtio', 'bochs', 'cirrus', 'qxl', 'ramfb', 'none'].includes(videoModel)
  )
    dropped.push(`the ${videoModel} video card: vmdesk gives the VM a standard VGA card.`);
  const sound = list(devices['sound']).length > 0;
  const channels = list(devices['channel']);
  const clipboard =
    display !== 'none' &&
    channels.some(
      (c) =>
        attr(c, 'type') === 'spicevmc' ||
        (attr(c, 'type') === 'qemu-vdagent' && attr(obj(obj(c['source'])['clipboard']), 'copypaste') !== 'no'),
    );

  // TPM.
  let tpm = false;
  for (const t of list(devices['tpm'])) {
    const backend = obj(t['backend']);
    if (attr(backend, 'type') === 'emulator') {
      tpm = true;
      if (attr(backend, 'version') === '1.2')
        dropped.push('the TPM 1.2: vmdesk emulates a TPM 2.0, which the guest sees as a new TPM.');
    } else
      dropped.push(
        `the ${attr(backend, 'type') ?? '?'} TPM (${attr(obj(backend['device']), 'path') ?? 'host device'}): vmdesk emulates a TPM 2.0 (swtpm) and passes no host TPM through.`,
      );
  }
  if (tpm)
    dropped.push(
      "the TPM's contents (libvirt's swtpm state): the VM starts with an empty TPM, so what the guest sealed in it (BitLocker keys, Windows Hello) must be set up again.",
    );

  // Host devices.
  const usb: NonNullable<DefineVmInput['usb']> = [];
  for (const h of list(devices['hostdev'])) {
    const type = attr(h, 'type');
    const source = obj(h['source']);
    if (type === 'usb') {
      const vendor = attr(obj(source['vendor']), 'id')?.replace(/^0x/i, '').toLowerCase();
      const product = attr(obj(source['product']), 'id')?.replace(/^0x/i, '').toLowerCase();
      if (vendor && product && /^[0-9a-f]{4}$/.test(vendor) && /^[0-9a-f]{4}$/.test(product))
        usb.push({ vendorId: vendor, productId: product });
      else {
        const a = obj(source['address']);
        dropped.push(
          `the USB device at bus ${attr(a, 'bus') ?? '?'} device ${attr(a, 'device') ?? '?'}: vmdesk plugs USB devices in by vendor and product id (vmdesk usb list shows them; then vmdesk usb attach VM VENDOR:PRODUCT --persist).`,
        );
      }
    } else if (type === 'mdev') {
      const uuid = attr(obj(source['address']), 'uuid') ?? '?';
      dropped.push(
        `the vGPU (mdev ${uuid}): give it to the VM with vmdesk mdev assign, after vmdesk mdev check says the host is ready.`,
      );
    } else if (type === 'pci') {
      const a = obj(source['address']);
      const pci = `${(attr(a, 'domain') ?? '0x0000').replace(/^0x/, '')}:${(attr(a, 'bus') ?? '?').replace(/^0x/, '')}:${(attr(a, 'slot') ?? '?').replace(/^0x/, '')}.${(attr(a, 'function') ?? '0').replace(/^0x/, '')}`;
      dropped.push(`the PCI device ${pci} (passed through): vmdesk does not pass PCI devices through.`);
    } else dropped.push(`the ${type ?? 'unknown'} host device: vmdesk does not pass it through.`);
  }

  // Shared folders.
  const shares: NonNullable<DefineVmInput['shares']> = [];
  for (const f of list(devices['filesystem'])) {
    const type = attr(f, 'type') ?? 'mount';
    const dir = attr(obj(f['source']), 'dir');
    const tag = attr(obj(f['target']), 'dir');
    if (type !== 'mount' || !dir || !tag) {
      dropped.push(`the ${type} filesystem ${tag ?? ''}: vmdesk shares host folders only.`.replace(' :', ':'));
      continue;
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,35}$/.test(tag)) {
      dropped.push(
        `the shared folder ${dir} (tag ${tag}): a vmdesk share tag is 1 to 36 letters, digits, _ . or -; add it with vmdesk set VM --share ${dir}:TAG.`,
      );
      continue;
    }
    shares.push({ path: dir, tag, readOnly: f['readonly'] !== undefined });
  }

  // Everything else, by element name.
  for (const key of Object.keys(devices)) {
    if (DEVICES_KNOWN.has(key) || key.startsWith('@') || key === '#text') continue;
    const n = list(devices[key]).length;
    dropped.push(
      `the ${key} device${n === 1 ? '' : `s (${n})`}: vmdesk VMs have no ${key === 'rng' ? 'random number device (the guest seeds its own generator)' : key === 'watchdog' ? 'watchdog' : `<${key}> devices`}.`,
    );
  }
  for (const key of Object.keys(dom)) {
    if (DOMAIN_KNOWN.has(key) || key.startsWith('@xmlns')) continue;
    dropped.push(`the domain's <${key.replace(/^@/, '')}> settings: vmdesk has no equivalent.`);
  }

  // The OS, as libosinfo names it.
  const metadata = obj(dom['metadata']);
  const osinfoKey = Object.keys(metadata).find((k) => k === 'libosinfo' || k.endsWith(':libosinfo'));
  const osinfo = osinfoKey ? obj(metadata[osinfoKey]) : {};
  const osKey = Object.keys(osinfo).find((k) => k === 'os' || k.endsWith(':os'));
  const osId = osKey ? attr(obj(osinfo[osKey]), 'id') : undefined;

  const [first, ...more] = disks;
  const [cdrom, ...moreCdroms] = cdroms;
  const input: DefineVmInput = {
    name,
    memoryMiB: mem.mib,
    cpus,
    arch,
    accel: 'auto',
    firmware: uefi ? 'uefi' : 'bios',
    display,
    ...(first ? { disk: { path: first.path, ...(first.format ? { format: first.format } : {}) } } : {}),
    ...(more.length > 0
      ? { moreDisks: more.map((d) => ({ path: d.path, ...(d.format ? { format: d.format } : {}) })) }
      : {}),
    ...(cdrom ? { cdrom } : {}),
    ...(moreCdroms.length > 0 ? { moreCdroms } : {}),
    secureBoot,
    tpm,
    diskBus,
    nic,
    clock,
    hyperv,
    sound,
    clipboard,
    ...(usb.length > 0 ? { usb } : {}),
    ...(shares.length > 0 ? { shares } : {}),
    ...(osId && osId.length <= 200 ? { os: { id: osId, name: osNameFromId(osId) } } : {}),
    ...(forwards.length > 0 ? { forwards } : {}),
  };
  return { input, dropped, ...(nvram ? { nvram } : {}), domainName };
}

/** "http://microsoft.com/win/11" → "win 11": a readable name when the caller knows no better one. */
export function osNameFromId(id: string): string {
  const parts = id
    .replace(/^[a-z]+:\/\/[^/]+\//i, '')
    .split('/')
    .filter(Boolean);
  return (parts.length > 0 ? parts.join(' ') : id).slice(0, 200);
}
