/**
 * Export and import against a real libvirt (qemu:///system, started by
 * `bash e2e/support/libvirt-env.sh start`, which `.ci/run` runs): a VM made with the `vmdesk` CLI
 * is exported with `vmdesk export VM --libvirt`, passes virt-xml-validate, is defined and started
 * with virsh and boots the test guest under libvirt (its serial log shows the guest ready); the
 * same XML imported with `vmdesk import` (disks copied), and the domain imported again from the
 * connection (`vmdesk import --from qemu:///system DOMAIN`, disks in place), round-trip the machine.
 *
 * libvirt's QEMU runs as libvirt-qemu and cannot read the test's sandbox (root's 0700 /tmp dirs):
 * the guest ISO, the disk and the UEFI variables are copied to /var/lib/libvirt/images, and the
 * test's copy of the XML points there.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallResults } from '../common/contract.js';
import type { VmSummary } from '../common/vm-types.js';
import { guestIso, Sandbox } from '../../../e2e/support/cli.js';
import { ensureSecureBootTestGuest } from '../../../e2e/guest/guest.js';
import {
  failInCiWhenMissing,
  LIBVIRT_IMAGES as IMAGES,
  libvirtMissing,
  SYSTEM_URI as SYSTEM,
  virsh,
} from '../../../e2e/support/libvirt.js';

const READY = 'VMDESK-GUEST-READY';

const missing = libvirtMissing([SYSTEM], ['virsh', 'virt-xml-validate', 'xmllint']);
failInCiWhenMissing('libvirt domain XML', missing);

async function waitForText(file: string, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let now = '';
    try {
      now = fs.readFileSync(file, 'utf8');
    } catch {
      // not there yet
    }
    if (now.includes(text)) return;
    if (Date.now() > deadline)
      throw new Error(`"${text}" did not appear in ${file} within ${timeoutMs} ms; it has:\n${now.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(missing !== undefined)(`libvirt domain XML${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const tag = crypto.randomBytes(3).toString('hex');
  // Characters XML must escape, in the name that becomes the domain's.
  const name = `vmdesk-it-${tag} <&'">`;
  const files = {
    iso: path.join(IMAGES, `vmdesk-it-${tag}.iso`),
    disk: path.join(IMAGES, `vmdesk-it-${tag}.qcow2`),
    vars: path.join(IMAGES, `vmdesk-it-${tag}-vars.fd`),
    serialLog: path.join(IMAGES, `vmdesk-it-${tag}-serial.log`),
    sbIso: path.join(IMAGES, `vmdesk-it-${tag}-sb.iso`),
    sbVars: path.join(IMAGES, `vmdesk-it-${tag}-sb-vars.fd`),
    sbSerialLog: path.join(IMAGES, `vmdesk-it-${tag}-sb-serial.log`),
  };
  const sbName = `vmdesk-it-${tag}-sb`;
  const domains: string[] = [];

  /**
   * Defines and starts the exported XML under libvirt and waits for the guest. The test's copy of
   * the XML has the UEFI variables where libvirt-qemu reads them, and the serial console also
   * logged to a file (the export has a plain pty console).
   */
  async function bootUnderLibvirt(xml: string, domain: string, vars: string, serialLog: string) {
    const nvram = /<nvram>([^<]+)<\/nvram>/.exec(xml)![1]!;
    fs.copyFileSync(nvram, vars);
    const file = path.join(sb.root, `${domain}.xml`);
    fs.writeFileSync(
      file,
      xml
        .replace(`<nvram>${nvram}</nvram>`, `<nvram>${vars}</nvram>`)
        .replace('<serial type="pty">', `<serial type="pty">\n      <log file="${serialLog}"/>`),
    );
    virsh('define', file);
    domains.push(domain);
    const t0 = performance.now();
    virsh('start', domain);
    const started = performance.now() - t0;
    await waitForText(serialLog, READY, 240_000);
    const booted = performance.now() - t0;
    console.log(
      `${domain}: virsh start ${started.toFixed(0)} ms; guest ready on the serial log after ${booted.toFixed(0)} ms`,
    );
    expect(virsh('domstate', domain).trim()).toBe('running');
    return virsh('dumpxml', domain);
  }
  let sb: Sandbox;
  let exported = '';

  beforeAll(() => {
    sb = new Sandbox();
    fs.copyFileSync(guestIso(), files.iso);
    fs.chmodSync(files.iso, 0o644);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', files.disk, '64M']);
  });
  afterAll(() => {
    for (const domain of domains) {
      try {
        virsh('destroy', domain);
      } catch {
        // not running
      }
      try {
        virsh('undefine', '--nvram', domain);
      } catch {
        // already gone
      }
      // libvirt keeps a domain's logs after it is undefined.
      fs.rmSync(`/var/log/libvirt/qemu/${domain}.log`, { force: true });
      fs.rmSync(`/var/log/swtpm/libvirt/qemu/${domain}-swtpm.log`, { force: true });
    }
    for (const f of Object.values(files)) fs.rmSync(f, { force: true });
    sb?.cleanup();
  });

  it('exports a UEFI VM with a disk and a disc as XML that virt-xml-validate accepts', async () => {
    const made = await sb.run([
      'define',
      '--name',
      name,
      '--memory',
      '256',
      '--cpus',
      '1',
      '--firmware',
      'uefi',
      '--disk',
      files.disk,
      '--cdrom',
      files.iso,
      '--forward',
      'tcp:2222:22',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const r = await sb.run(['export', name, '--libvirt']);
    expect(r.code, r.stderr).toBe(0);
    exported = r.stdout;
    expect(exported).toMatch(/^<domain type="(qemu|kvm)">/);
    expect(exported).toContain(`<name>vmdesk-it-${tag} &lt;&amp;&apos;&quot;&gt;</name>`);
    expect(exported).toContain(`<source file="${files.disk}"/>`);
    expect(exported).toContain('<driver name="qemu" type="qcow2"/>');
    // What libvirt cannot say is on stderr, one note a line.
    expect(r.stderr).toMatch(/^vmdesk: note: The port forwards \(tcp 127\.0\.0\.1:2222 → 22\) are left out/m);
    const file = path.join(sb.root, 'exported.xml');
    fs.writeFileSync(file, exported);
    const valid = execFileSync('virt-xml-validate', [file, 'domain'], { encoding: 'utf8', stdio: 'pipe' });
    expect(valid).toBe('');
  });

  it('virt-xml-validate accepts every golden file', () => {
    const dir = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures');
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.xml')))
      execFileSync('virt-xml-validate', [path.join(dir, f), 'domain'], { stdio: 'pipe' });
  });

  it('boots the test guest under libvirt: virsh define and start, the serial log shows it ready', async () => {
    expect(exported).not.toBe('');
    const live = await bootUnderLibvirt(exported, name, files.vars, files.serialLog);
    expect(live).toContain("<type arch='x86_64' machine='pc-q35-");
    expect(live).toContain(`<loader readonly='yes' type='pflash'>`);
    virsh('destroy', name);
  });

  it('imports the exported XML with its disks copied: the same memory, CPUs, disk, disc and firmware', async () => {
    const file = path.join(sb.root, 'exported.xml');
    const r = await sb.run(['import', file, '--name', `imported-${tag}`, '--copy-disks', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { vm, dropped } = JSON.parse(r.stdout) as CallResults['vm.importXml'];
    const d = vm.definition!;
    expect(d).toMatchObject({ memoryMiB: 256, cpus: 1, firmware: 'uefi', secureBoot: false, arch: 'x86_64' });
    expect(d.cdroms).toEqual([files.iso]);
    expect(d.disks).toHaveLength(1);
    expect(d.disks[0]).toMatchObject({ format: 'qcow2', owned: true, target: 'vda' });
    expect(d.disks[0]!.path.startsWith(path.join(sb.env.XDG_DATA_HOME!, 'vmdesk', 'vms', vm.id) + '/')).toBe(true);
    expect(fs.statSync(d.disks[0]!.path).size).toBe(fs.statSync(files.disk).size);
    // The staging folder is gone: only the VMs' own folders are left.
    const vmsDir = path.join(sb.env.XDG_DATA_HOME!, 'vmdesk', 'vms');
    expect(fs.readdirSync(vmsDir).sort()).toHaveLength(2);
    expect(dropped).toContain(
      'the MAC address 52:54:00:' +
        /<mac address="52:54:00:([^"]+)"/.exec(fs.readFileSync(file, 'utf8'))![1] +
        ": vmdesk derives the VM's MAC from its id (a guest that ties its network settings to the MAC needs them updated).",
    );
  });

  it('imports the domain from the libvirt connection with its disks in place, and says so', async () => {
    // The first VM lets go of the disk (a disk belongs to one VM).
    const del = await sb.run(['delete', name, '--keep-disks']);
    expect(del.code, del.stderr).toBe(0);
    const r = await sb.run(['import', '--from', SYSTEM, name, '--name', `from-libvirt-${tag}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      `Imported the domain "${name}" of ${SYSTEM} as "from-libvirt-${tag}": 256 MiB, 1 CPU, UEFI.`,
    );
    expect(r.stdout).toContain(
      'Disks (used where they are; deleting the VM keeps them. Not asked: no terminal and no --copy-disks, so in place):',
    );
    expect(r.stdout).toContain(`  vda  ${files.disk} (qcow2)`);
    expect(r.stdout).toContain(`CD-ROM: ${files.iso}`);
    const vm = (await sb.json<VmSummary>(['info', `from-libvirt-${tag}`])).definition!;
    expect(vm.disks).toEqual([{ path: files.disk, target: 'vda', format: 'qcow2', owned: false, readOnly: false }]);
    // The domain's UEFI variables came along (the same firmware build, so the same size).
    expect(fs.readFileSync(vm.nvram!)).toEqual(fs.readFileSync(files.vars));
  });

  it('boots a Secure Boot VM with a TPM under libvirt: the signed test guest, SMM, swtpm', async () => {
    const { iso } = await ensureSecureBootTestGuest();
    fs.copyFileSync(iso, files.sbIso);
    fs.chmodSync(files.sbIso, 0o644);
    const made = await sb.run([
      'define',
      '--name',
      sbName,
      '--memory',
      '512',
      '--cpus',
      '1',
      '--secure-boot',
      '--tpm',
      '--cdrom',
      files.sbIso,
    ]);
    expect(made.code, made.stderr).toBe(0);
    const r = await sb.run(['export', sbName, '--libvirt']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/<loader readonly="yes" secure="yes" type="pflash">[^<]+<\/loader>/);
    expect(r.stdout).toContain('<smm state="on"/>');
    expect(r.stderr).toContain('vmdesk: note: The TPM starts empty under libvirt');
    const live = await bootUnderLibvirt(r.stdout, sbName, files.sbVars, files.sbSerialLog);
    expect(live).toMatch(/<loader readonly='yes' secure='yes' type='pflash'>/);
    expect(live).toMatch(/<tpm model='tpm-crb'>\s*<backend type='emulator' version='2.0'/);
    virsh('destroy', sbName);
  });
});

// Through the real CLI and driver, without libvirt: an import whose disk copy or define fails
// leaves no VM, no copied disk and no intent behind.
describe('vmdesk import --copy-disks, failing', () => {
  let sb: Sandbox;
  beforeAll(() => {
    sb = new Sandbox();
  });
  afterAll(() => sb?.cleanup());

  const domain = (name: string, disks: string[]) =>
    `<domain type='kvm'><name>${name}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
      <os><type arch='x86_64' machine='q35'>hvm</type></os><devices>
      ${disks.map((d, i) => `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${d}'/><target dev='vd${'abc'[i]}' bus='virtio'/></disk>`).join('')}
      </devices></domain>`;
  /** Every file under the sandbox's data and config dirs (the definitions, disks and intents). */
  const leftovers = () =>
    [sb.env.XDG_DATA_HOME!, sb.env.XDG_CONFIG_HOME!].flatMap((root) =>
      (fs.readdirSync(root, { recursive: true }) as string[])
        .map((f) => path.join(root, f))
        .filter((f) => fs.statSync(f).isFile() && !f.endsWith('.lock') && !f.endsWith('connections.json')),
    );

  it('leaves nothing when a disk cannot be copied (the second is a folder)', async () => {
    const disk = path.join(sb.root, 'one.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
    const before = leftovers();
    const file = path.join(sb.root, 'two-disks.xml');
    fs.writeFileSync(file, domain('two-disks', [disk, sb.root]));
    const r = await sb.run(['import', file, '--copy-disks']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`The disk ${sb.root} is not a regular file: vmdesk copies image files only.`);
    expect(leftovers()).toEqual(before);
  });

  it('leaves no copy when the define refuses the VM (its name is taken)', async () => {
    const made = await sb.run(['define', '--name', 'taken', '--memory', '128', '--cpus', '1']);
    expect(made.code, made.stderr).toBe(0);
    const before = leftovers();
    const disk = path.join(sb.root, 'two.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
    const file = path.join(sb.root, 'taken.xml');
    fs.writeFileSync(file, domain('taken', [disk]));
    const r = await sb.run(['import', file, '--copy-disks']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('A VM named "taken" already exists. Choose another name.');
    expect(leftovers()).toEqual(before);
  });

  // Was a defect: a qcow2 overlay was copied alone (its top layer), still reading through its base.
  it('refuses to copy a qcow2 overlay, and says how to flatten it', async () => {
    const base = path.join(sb.root, 'base.qcow2');
    const top = path.join(sb.root, 'top.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '16M']);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top]);
    const before = leftovers();
    const file = path.join(sb.root, 'overlay.xml');
    fs.writeFileSync(file, domain('overlay', [top]));
    const r = await sb.run(['import', file, '--copy-disks']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`The disk ${top} is a qcow2 overlay on ${base}: a copy would hold only its top layer.`);
    expect(r.stderr).toContain('qemu-img convert -O qcow2');
    expect(leftovers()).toEqual(before);
  });

  it('refuses a domain of another computer, whose disks are not here', async () => {
    const r = await sb.run(['import', '--from', 'qemu+ssh://me@server.example/system', 'web']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'The domain "web" lives on another computer (qemu+ssh://me@server.example/system): its disks are files there, not here.',
    );
  });

  it('says what is wrong with XML that is not a domain', async () => {
    const file = path.join(sb.root, 'network.xml');
    fs.writeFileSync(file, '<network><name>default</name></network>');
    const r = await sb.run(['import', file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'This XML is not a libvirt domain: its root is <network>, not <domain type="...">. Give the XML that virsh dumpxml DOMAIN prints.',
    );
  });
});
