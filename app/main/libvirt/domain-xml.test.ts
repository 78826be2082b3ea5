// Domain XML both ways: the export of fixed definitions pinned in golden files (fixtures/*.xml;
// UPDATE_GOLDENS=1 rewrites them, testing/golden.ts), escaping, what each side leaves out, bad
// documents, memory units, and export → import keeping the machine.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { DEFINITION_VERSION, type VmDefinition } from '../common/vm-types.js';
import { thrown } from '../testing/thrown.js';
import { expectGolden } from '../testing/golden.js';
import { domainXmlFromDefinition, memoryMiBOf, parseDomainXml, type DomainFacts } from './domain-xml.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

const OVMF = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_SB = '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd';
const TCG: DomainFacts = { domainType: 'qemu', passt: false };

function def(over: Partial<VmDefinition> = {}): VmDefinition {
  return {
    version: DEFINITION_VERSION,
    id: '83b8f4f2-509f-382f-3c1e-e6bfe0fa1001',
    name: 'debian',
    arch: 'x86_64',
    memoryMiB: 1024,
    cpus: 2,
    accel: 'auto',
    firmware: 'bios',
    disks: [{ path: '/vms/debian/disk0.qcow2', target: 'vda', format: 'qcow2', owned: true, readOnly: false }],
    cdroms: ['/isos/debian-12.iso'],
    boot: ['cdrom', 'disk'],
    network: { mode: 'user', forwards: [] },
    display: 'std',
    nvram: null,
    secureBoot: false,
    tpm: false,
    devices: { disk: 'virtio', nic: 'virtio' },
    clock: 'utc',
    hyperv: false,
    shares: [],
    sound: false,
    clipboard: false,
    usb: [],
    mdevs: [],
    createdAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

/** The fixed definitions whose export is pinned, with the host facts each is exported with. */
const CASES: Record<string, { def: VmDefinition; facts: DomainFacts }> = {
  bios: { def: def({ os: { id: 'http://debian.org/debian/12', name: 'Debian 12' } }), facts: TCG },
  uefi: {
    def: def({
      name: 'fedora',
      firmware: 'uefi',
      nvram: '/vms/fedora/efivars.fd',
      disks: [
        { path: '/vms/fedora/disk0.qcow2', target: 'vda', format: 'qcow2', owned: true, readOnly: false },
        { path: '/data/scratch.img', target: 'vdb', format: 'raw', owned: false, readOnly: false },
      ],
      cdroms: [null],
      boot: ['disk', 'cdrom'],
      display: 'virtio',
      sound: true,
      clipboard: true,
      shares: [
        { path: '/home/me/src', tag: 'src', readOnly: false },
        { path: '/home/me/docs', tag: 'docs', readOnly: true },
      ],
    }),
    facts: { domainType: 'kvm', uefi: { code: OVMF, smm: false }, passt: false },
  },
  'uefi-secureboot-tpm': {
    def: def({
      name: 'Windows 11',
      memoryMiB: 4096,
      cpus: 4,
      firmware: 'uefi',
      secureBoot: true,
      tpm: true,
      nvram: '/vms/win11/efivars-secure.fd',
      disks: [{ path: '/vms/win11/disk0.qcow2', target: 'vda', format: 'qcow2', owned: true, readOnly: false }],
      cdroms: ['/isos/Win11_23H2.iso', '/isos/virtio-win.iso'],
      devices: { disk: 'sata', nic: 'e1000e' },
      clock: 'localtime',
      hyperv: true,
      sound: true,
      clipboard: true,
      usb: [{ vendorId: '046d', productId: 'c52b' }],
      os: { id: 'http://microsoft.com/win/11', name: 'Microsoft Windows 11' },
    }),
    facts: { domainType: 'kvm', uefi: { code: OVMF_SB, smm: true }, passt: false },
  },
  'vgpu-mdev': {
    def: def({
      name: 'gvt',
      firmware: 'uefi',
      nvram: '/vms/gvt/efivars.fd',
      cdroms: [null],
      boot: ['disk'],
      mdevs: [
        { uuid: '4b20d080-1b54-4048-85b3-a6a62d165c01', type: 'i915-GVTg_V5_4', parent: '0000:00:02.0', display: true },
        { uuid: '4b20d080-1b54-4048-85b3-a6a62d165c02', type: 'mtty-2', parent: 'mtty', display: false },
      ],
    }),
    facts: { domainType: 'kvm', uefi: { code: OVMF, smm: false }, passt: false },
  },
  'forwards-passt': {
    def: def({
      name: 'web server',
      cdroms: [],
      boot: ['disk', 'network'],
      display: 'none',
      network: {
        mode: 'user',
        forwards: [
          { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222, guestPort: 22 },
          { proto: 'tcp', hostAddr: '0.0.0.0', hostPort: 8080, guestPort: 80 },
          { proto: 'udp', hostAddr: '127.0.0.1', hostPort: 5353, guestPort: 53 },
        ],
      },
    }),
    facts: { domainType: 'qemu', passt: true },
  },
};

describe('domainXmlFromDefinition (golden)', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(`exports the ${name} VM as the XML in fixtures/${name}.xml`, () => {
      const { xml } = domainXmlFromDefinition(c.def, c.facts);
      expect(XMLValidator.validate(xml)).toBe(true);
      expectGolden(path.join(FIXTURES, `${name}.xml`), xml);
    });
  }

  it('gives Secure Boot the secure loader and SMM, and a TPM 2.0 emulator', () => {
    const { xml } = domainXmlFromDefinition(CASES['uefi-secureboot-tpm']!.def, CASES['uefi-secureboot-tpm']!.facts);
    expect(xml).toContain(`<loader readonly="yes" secure="yes" type="pflash">${OVMF_SB}</loader>`);
    expect(xml).toContain('<nvram>/vms/win11/efivars-secure.fd</nvram>');
    expect(xml).toContain('<smm state="on"/>');
    expect(xml).toMatch(/<tpm model="tpm-crb">\s*<backend type="emulator" version="2.0"\/>/);
  });

  it('names each disk format explicitly', () => {
    const { xml } = domainXmlFromDefinition(CASES['uefi']!.def, CASES['uefi']!.facts);
    expect(xml).toMatch(/<driver name="qemu" type="qcow2"\/>\s*<source file="\/vms\/fedora\/disk0.qcow2"\/>/);
    expect(xml).toMatch(/<driver name="qemu" type="raw"\/>\s*<source file="\/data\/scratch.img"\/>/);
  });

  it('gives virtio-fs shares shared memory, and read-only ones 9p, saying so', () => {
    const { xml, notes } = domainXmlFromDefinition(CASES['uefi']!.def, CASES['uefi']!.facts);
    expect(xml).toMatch(/<memoryBacking>\s*<source type="memfd"\/>\s*<access mode="shared"\/>/);
    expect(xml).toMatch(/<driver type="virtiofs"\/>\s*<source dir="\/home\/me\/src"\/>/);
    expect(xml).toMatch(
      /accessmode="mapped">\s*<source dir="\/home\/me\/docs"\/>\s*<target dir="docs"\/>\s*<readonly\/>/,
    );
    expect(notes.join('\n')).toMatch(/virtiofsd/);
    expect(notes.join('\n')).toMatch(/9p/);
  });

  it('lists the port forwards in the notes when passt is not installed', () => {
    const c = CASES['forwards-passt']!;
    const { xml, notes } = domainXmlFromDefinition(c.def, { ...c.facts, passt: false });
    expect(xml).not.toContain('portForward');
    expect(xml).not.toContain('passt');
    expect(notes.find((n) => n.startsWith('The port forwards'))).toBe(
      'The port forwards (tcp 127.0.0.1:2222 → 22, tcp 0.0.0.0:8080 → 80, udp 127.0.0.1:5353 → 53) are left out: ' +
        "libvirt says port forwards only for passt's user networking, and passt is not installed here. Install passt and export again, " +
        "or forward them with a libvirt network's NAT rules.",
    );
  });

  it('escapes a name with XML characters, and the import reads the same name back', () => {
    const name = `a <&'"> b`;
    const { xml } = domainXmlFromDefinition(def({ name }), TCG);
    expect(xml).toContain('<name>a &lt;&amp;&apos;&quot;&gt; b</name>');
    expect(XMLValidator.validate(xml)).toBe(true);
    expect(parseDomainXml(xml).input.name).toBe(name);
  });

  it('leaves Hyper-V out under TCG, saying why', () => {
    const { xml, notes } = domainXmlFromDefinition(def({ hyperv: true }), TCG);
    expect(xml).not.toContain('hyperv');
    expect(notes).toContain('Hyper-V enlightenments are left out: they need KVM (this domain runs under TCG).');
  });

  it('exports an aarch64 VM as a virt machine with UEFI, its disc on virtio-scsi and a USB keyboard', () => {
    const arm = def({ arch: 'aarch64', firmware: 'uefi', nvram: '/vms/arm/efivars.fd' });
    const { xml } = domainXmlFromDefinition(arm, {
      domainType: 'qemu',
      uefi: { code: '/usr/share/AAVMF/AAVMF_CODE.fd', smm: false },
      passt: false,
    });
    expect(xml).toContain('<type arch="aarch64" machine="virt">hvm</type>');
    expect(xml).toContain('<loader readonly="yes" type="pflash">/usr/share/AAVMF/AAVMF_CODE.fd</loader>');
    expect(xml).toContain('<controller type="scsi" model="virtio-scsi"/>');
    expect(xml).toContain('<target dev="sda" bus="scsi"/>');
    expect(xml).toContain('<input type="keyboard" bus="usb"/>');
    expect(xml).not.toContain('<apic/>');
    expect(parseDomainXml(xml).input).toMatchObject({
      arch: 'aarch64',
      firmware: 'uefi',
      cdrom: '/isos/debian-12.iso',
    });
  });

  it('refuses a UEFI VM without its firmware files (a caller bug)', () => {
    expect(() => domainXmlFromDefinition(def({ firmware: 'uefi' }), TCG)).toThrow(/without its firmware files/);
  });
});

describe('export → import', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(`keeps memory, CPUs, disks, CD-ROMs and firmware of the ${name} VM`, () => {
      const { input, nvram } = parseDomainXml(domainXmlFromDefinition(c.def, c.facts).xml);
      const d = c.def;
      expect(input.name).toBe(d.name);
      expect(input.memoryMiB).toBe(d.memoryMiB);
      expect(input.cpus).toBe(d.cpus);
      expect([input.disk, ...(input.moreDisks ?? [])].filter(Boolean)).toEqual(
        d.disks.map((k) => ({ path: k.path, format: k.format })),
      );
      expect([input.cdrom, ...(input.moreCdroms ?? [])].filter(Boolean)).toEqual(d.cdroms.filter(Boolean));
      expect(input.firmware).toBe(d.firmware);
      expect(input.secureBoot).toBe(d.secureBoot);
      expect(nvram ?? null).toBe(d.nvram);
      expect(input.tpm).toBe(d.tpm);
      expect(input.diskBus).toBe(d.devices.disk);
      expect(input.nic).toBe(d.devices.nic);
      expect(input.clock).toBe(d.clock);
      expect(input.display).toBe(d.display);
      expect(input.sound).toBe(d.sound);
      expect(input.usb ?? []).toEqual(d.usb);
      expect(input.shares ?? []).toEqual(d.shares);
      if (c.facts.domainType === 'kvm') expect(input.hyperv).toBe(d.hyperv);
      if (c.facts.passt) expect(input.forwards).toEqual(d.network.forwards);
      expect(input.os?.id).toBe(d.os?.id);
    });
  }
});

describe('parseDomainXml', () => {
  const virtManager = fs.readFileSync(path.join(FIXTURES, 'import-virt-manager.xml'), 'utf8');

  it('maps what vmdesk understands of a virt-manager Windows 11 domain', () => {
    const { input, nvram } = parseDomainXml(virtManager);
    expect(input).toEqual({
      name: 'win11',
      memoryMiB: 4096,
      cpus: 4,
      arch: 'x86_64',
      accel: 'auto',
      firmware: 'uefi',
      display: 'std',
      disk: { path: '/var/lib/libvirt/images/win11.qcow2', format: 'qcow2' },
      moreDisks: [{ path: '/var/lib/libvirt/images/data.img', format: 'raw' }],
      cdrom: '/var/lib/libvirt/images/Win11_23H2.iso',
      secureBoot: true,
      tpm: true,
      diskBus: 'sata',
      nic: 'e1000e',
      clock: 'localtime',
      hyperv: true,
      sound: true,
      clipboard: true,
      usb: [{ vendorId: '046d', productId: 'c52b' }],
      shares: [{ path: '/srv/share', tag: 'hostshare', readOnly: false }],
      os: { id: 'http://microsoft.com/win/11', name: 'win 11' },
    });
    expect(nvram).toBe('/var/lib/libvirt/qemu/nvram/win11_VARS.fd');
  });

  it('says in one sentence each what it left out', () => {
    const { dropped } = parseDomainXml(virtManager);
    expect(dropped).toEqual([
      'the balloon target of 2048 MiB (<currentMemory>): vmdesk VMs have no balloon and get all 4096 MiB.',
      'the disk sdc (/var/lib/libvirt/images/old.vmdk, vmdk): vmdesk uses qcow2 and raw images; convert it with qemu-img convert -O qcow2 /var/lib/libvirt/images/old.vmdk NEW.qcow2 and add it with vmdesk disk add VM --file NEW.qcow2.',
      'the disk sdd (volume extra.qcow2 of pool default): vmdesk uses image files only (find its file with virsh vol-path --pool default extra.qcow2 and add it with vmdesk disk add VM --file PATH).',
      'the CD-ROM drive sdf (/dev/sr0): vmdesk uses image files only.',
      "the virtio bus of the disk vdb: vmdesk puts all of a VM's disks on one bus, here sata.",
      "the NIC's connection to network default: vmdesk VMs reach the network through QEMU's user-mode NAT (the host reaches the guest through port forwards: vmdesk forward add).",
      "the MAC address 52:54:00:6b:3c:58: vmdesk derives the VM's MAC from its id (a guest that ties its network settings to the MAC needs them updated).",
      'the second NIC (bridge br0): vmdesk VMs have one user-mode network.',
      'the spice display: vmdesk shows the screen over VNC (in its window, vmdesk web, or a VNC viewer).',
      "the TPM's contents (libvirt's swtpm state): the VM starts with an empty TPM, so what the guest sealed in it (BitLocker keys, Windows Hello) must be set up again.",
      'the PCI device 0000:01:00.0 (passed through): vmdesk does not pass PCI devices through.',
      'the vGPU (mdev c0ffee00-1111-2222-3333-444455556666): give it to the VM with vmdesk mdev assign, after vmdesk mdev check says the host is ready.',
      'the redirdev device: vmdesk VMs have no <redirdev> devices.',
      'the rng device: vmdesk VMs have no random number device (the guest seeds its own generator).',
      "the domain's <cputune> settings: vmdesk has no equivalent.",
    ]);
  });

  it('says the machine type changes from i440fx to q35', () => {
    const xml = virtManager.replace('pc-q35-7.2', 'pc-i440fx-7.2');
    expect(parseDomainXml(xml).dropped).toContain(
      "the machine type pc-i440fx-7.2: vmdesk's x86_64 VMs are q35, so the guest sees a newer chipset (Linux adapts; Windows may ask to be activated again).",
    );
  });

  it("takes the name asked for over the domain's", () => {
    expect(parseDomainXml(virtManager, { name: 'Windows' }).input.name).toBe('Windows');
  });

  it('reads memory in any unit libvirt writes (KiB by default)', () => {
    const mib = (memory: string) =>
      parseDomainXml(`<domain type='kvm'><name>m</name>${memory}<vcpu>1</vcpu><os><type>hvm</type></os></domain>`).input
        .memoryMiB;
    expect(mib('<memory>1048576</memory>')).toBe(1024);
    expect(mib("<memory unit='KiB'>524288</memory>")).toBe(512);
    expect(mib("<memory unit='k'>524288</memory>")).toBe(512);
    expect(mib("<memory unit='MiB'>768</memory>")).toBe(768);
    expect(mib("<memory unit='M'>768</memory>")).toBe(768);
    expect(mib("<memory unit='GiB'>2</memory>")).toBe(2048);
    expect(mib("<memory unit='G'>2</memory>")).toBe(2048);
    expect(mib("<memory unit='gib'>3</memory>")).toBe(3072);
    expect(mib("<memory unit='TiB'>1</memory>")).toBe(1024 * 1024);
    expect(mib("<memory unit='bytes'>1073741824</memory>")).toBe(1024);
    expect(mib("<memory unit='MB'>1000</memory>")).toBe(954);
    expect(mib("<memory unit='GB'>1</memory>")).toBe(954);
    expect(() => mib("<memory unit='furlongs'>1</memory>")).toThrow(/not a size libvirt writes/);
    expect(() => mib('<memory>-5</memory>')).toThrow(/not a size libvirt writes/);
    expect(memoryMiBOf({ '@unit': 'KB', '#text': '1000' })).toEqual({ mib: 1, exact: false });
  });

  it('says when the memory is not whole MiB', () => {
    const xml = domainXmlFromDefinition(def(), TCG).xml.replace(
      '<memory unit="MiB">1024</memory>',
      '<memory unit="MB">1000</memory>',
    );
    const { input, dropped } = parseDomainXml(xml);
    expect(input.memoryMiB).toBe(954);
    expect(dropped).toContain("the memory's last fraction of a MiB: vmdesk gives whole MiB, so the VM gets 954 MiB.");
  });

  it('reads port forwards of a passt interface, and says which it cannot take', () => {
    const xml = `<domain type='kvm'><name>p</name><memory unit='MiB'>512</memory><vcpu>1</vcpu>
      <os><type arch='x86_64' machine='q35'>hvm</type></os><devices>
      <interface type='user'><backend type='passt'/><model type='virtio'/>
        <portForward proto='tcp' address='127.0.0.1'><range start='2222' to='22'/></portForward>
        <portForward proto='tcp'><range start='8080'/></portForward>
        <portForward proto='udp' address='::1'><range start='53'/></portForward>
        <portForward proto='tcp'><range start='9000' end='9010'/></portForward>
      </interface></devices></domain>`;
    const { input, dropped } = parseDomainXml(xml);
    expect(input.forwards).toEqual([
      { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222, guestPort: 22 },
      { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 8080, guestPort: 8080 },
    ]);
    expect(dropped).toEqual([
      'the port forward tcp 8080 → 8080 listening on every address: vmdesk listens on 127.0.0.1 (this computer only); add it with tcp:0.0.0.0:8080:8080 to open it to the network.',
      'the port forward udp ::1:53 → 53: vmdesk listens on IPv4 addresses only.',
      'the port forward tcp 9000-9010 → 9000: vmdesk forwards single ports; add each one with vmdesk forward add.',
    ]);
  });

  it('reads the libosinfo id under any namespace prefix', () => {
    const xml = `<domain type='kvm'><name>o</name><memory>524288</memory><vcpu>1</vcpu><os><type>hvm</type></os>
      <metadata><ns0:libosinfo xmlns:ns0="http://libosinfo.org/xmlns/libvirt/domain/1.0"><ns0:os id="http://ubuntu.com/ubuntu/24.04"/></ns0:libosinfo></metadata></domain>`;
    expect(parseDomainXml(xml).input.os).toEqual({ id: 'http://ubuntu.com/ubuntu/24.04', name: 'ubuntu 24.04' });
  });

  it('refuses what is not well-formed XML, naming the line', () => {
    const e = thrown(() => parseDomainXml('<domain type="kvm"><name>x</name>'));
    expect(e.message).toMatch(
      /^This is not well-formed XML \(line 1, column \d+: .+\)\. Give the XML that virsh dumpxml DOMAIN prints\.$/,
    );
  });

  it('refuses XML that is not a domain', () => {
    expect(() => parseDomainXml('<network><name>default</name></network>')).toThrow(
      'This XML is not a libvirt domain: its root is <network>, not <domain type="...">. Give the XML that virsh dumpxml DOMAIN prints.',
    );
    expect(() => parseDomainXml('<domain><name>x</name></domain>')).toThrow(/not a libvirt domain/);
    expect(() => parseDomainXml('')).toThrow(/not a libvirt domain|not well-formed/);
  });

  it('refuses a DOCTYPE (entity expansion) before parsing', () => {
    const bomb = `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><domain type="kvm"><name>&b;</name></domain>`;
    expect(() => parseDomainXml(bomb)).toThrow(/DOCTYPE/);
  });

  it('refuses architectures and guest kinds vmdesk does not run', () => {
    const dom = (os: string) =>
      `<domain type='kvm'><name>x</name><memory>524288</memory><vcpu>1</vcpu><os>${os}</os></domain>`;
    expect(() => parseDomainXml(dom("<type arch='ppc64le' machine='pseries'>hvm</type>"))).toThrow(
      'The domain is an ppc64le machine: vmdesk runs x86_64 and aarch64 VMs only.',
    );
    expect(() => parseDomainXml(dom("<type arch='x86_64'>exe</type>"))).toThrow(/full virtual machines \(hvm\) only/);
  });

  it('refuses a domain without memory it can read', () => {
    expect(() => parseDomainXml("<domain type='kvm'><name>x</name><vcpu>1</vcpu></domain>")).toThrow(/<memory>/);
  });

  it('treats a domain without graphics as headless, and one without a NIC says it gets one', () => {
    const { input, dropped } = parseDomainXml(
      "<domain type='qemu'><name>h</name><memory unit='MiB'>256</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type><loader type='rom'/></os></domain>",
    );
    expect(input.display).toBe('none');
    expect(input.firmware).toBe('bios');
    expect(input.clipboard).toBe(false);
    expect(dropped).toEqual([
      'the absence of a NIC: every new vmdesk VM has user-mode networking (turn it off with vmdesk set VM --network none).',
    ]);
  });
});
