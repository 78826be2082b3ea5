// `vmdesk export --libvirt` and `vmdesk import` on a recording `call` (the driver's side is tested in
// libvirt/domain-xml.test.ts and, against real libvirt, domain-xml.int.test.ts): what each command
// asks the driver, and what a person reads on stdout and stderr.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallName, CallParams, CallResults } from '../common/contract.js';
import { DEFINITION_VERSION, type VmSummary } from '../common/vm-types.js';
import { runInterop, type Ask } from './interop-command.js';
import { captureIo } from '../testing/capture-io.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function xmlFile(content = "<domain type='kvm'><name>win11</name></domain>"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-interop-'));
  dirs.push(dir);
  const file = path.join(dir, 'win11.xml');
  fs.writeFileSync(file, content);
  return file;
}

const imported: VmSummary = {
  id: '5b1c2f7e-8a43-4c3e-9d7e-1c2b3a4d5e6f',
  name: 'win11',
  state: 'stopped',
  file: '/c/vmdesk/vms/5b1c2f7e-8a43-4c3e-9d7e-1c2b3a4d5e6f.json',
  definition: {
    version: DEFINITION_VERSION,
    id: '5b1c2f7e-8a43-4c3e-9d7e-1c2b3a4d5e6f',
    name: 'win11',
    arch: 'x86_64',
    memoryMiB: 4096,
    cpus: 4,
    accel: 'auto',
    firmware: 'uefi',
    disks: [
      { path: '/var/lib/libvirt/images/win11.qcow2', target: 'vda', format: 'qcow2', owned: false, readOnly: false },
    ],
    cdroms: ['/isos/Win11.iso'],
    boot: ['cdrom', 'disk'],
    network: { mode: 'user', forwards: [] },
    display: 'std',
    nvram: '/d/vmdesk/vms/5b1c2f7e-8a43-4c3e-9d7e-1c2b3a4d5e6f/efivars-secure.fd',
    secureBoot: true,
    tpm: true,
    devices: { disk: 'sata', nic: 'e1000e' },
    clock: 'localtime',
    hyperv: true,
    shares: [],
    sound: true,
    clipboard: true,
    usb: [],
    mdevs: [],
    os: { id: 'http://microsoft.com/win/11', name: 'Microsoft Windows 11' },
    createdAt: '2026-01-01T00:00:00.000Z',
  },
};

async function run(args: string[], command: 'export' | 'import', ask: Ask = () => undefined) {
  const c = captureIo();
  const calls: [CallName, unknown][] = [];
  const call = async <C extends CallName>(name: C, params: CallParams<C>): Promise<CallResults[C]> => {
    calls.push([name, params]);
    if (name === 'vm.exportXml')
      return { xml: '<domain type="kvm">\n  <name>web</name>\n</domain>', notes: ['One.', 'Two.'] } as CallResults[C];
    if (name === 'vm.importXml')
      return {
        vm: imported,
        dropped: ['the second NIC (bridge br0): vmdesk VMs have one user-mode network.'],
      } as CallResults[C];
    throw new Error(`unexpected call ${name}`);
  };
  const code = await runInterop(command, args, c.io, call, ask);
  return { code, out: c.out(), err: c.err(), calls };
}

describe('vmdesk export', () => {
  it('prints the XML on stdout and each note on stderr', async () => {
    const r = await run(['web', '--libvirt'], 'export');
    expect(r.code).toBe(0);
    expect(r.calls).toEqual([['vm.exportXml', { vm: 'web' }]]);
    expect(r.out).toBe('<domain type="kvm">\n  <name>web</name>\n</domain>\n');
    expect(r.err).toBe('vmdesk: note: One.\nvmdesk: note: Two.\n');
  });

  it('prints XML and notes as JSON with --json', async () => {
    const r = await run(['web', '--libvirt', '--json'], 'export');
    expect(JSON.parse(r.out)).toEqual({
      xml: '<domain type="kvm">\n  <name>web</name>\n</domain>',
      notes: ['One.', 'Two.'],
    });
    expect(r.err).toBe('');
  });

  it('asks for --libvirt, the one format it writes', async () => {
    await expect(run(['web'], 'export')).rejects.toThrow(
      'vmdesk exports libvirt domain XML only, so say --libvirt: vmdesk export web --libvirt',
    );
  });

  it('takes exactly one VM', async () => {
    await expect(run(['--libvirt'], 'export')).rejects.toThrow(/vmdesk export VM --libvirt/);
  });
});

describe('vmdesk import', () => {
  it('sends the file and, with no terminal to ask, uses the disks in place and says so', async () => {
    const file = xmlFile();
    const r = await run([file], 'import');
    expect(r.calls).toEqual([
      ['vm.importXml', { xml: "<domain type='kvm'><name>win11</name></domain>", disks: 'in-place' }],
    ]);
    expect(r.out).toBe(
      [
        `Imported ${file} as "win11": 4 GiB, 4 CPUs, UEFI with Secure Boot, TPM 2.0, Microsoft Windows 11.`,
        'Disks (used where they are; deleting the VM keeps them. Not asked: no terminal and no --copy-disks, so in place):',
        '  vda  /var/lib/libvirt/images/win11.qcow2 (qcow2)',
        'Do not run the domain in libvirt while the VM runs in vmdesk: they would write the same disks.',
        'CD-ROM: /isos/Win11.iso',
        'Left out (1):',
        '  - The second NIC (bridge br0): vmdesk VMs have one user-mode network.',
        'Start it with: vmdesk start "win11"',
        '',
      ].join('\n'),
    );
  });

  it('asks on a terminal whether to copy the disks', async () => {
    const questions: string[] = [];
    const r = await run([xmlFile(), '--name', 'Windows'], 'import', (q) => {
      questions.push(q);
      return Promise.resolve('c');
    });
    expect(questions).toEqual(["Copy the disks into the new VM's folder (c), or use them where they are (p)? [p] "]);
    expect(r.calls[0]![1]).toMatchObject({ name: 'Windows', disks: 'copy' });
    expect(r.out).toContain("Disks (copied into the VM's folder; they go when the VM is deleted):");
  });

  it('takes the answer "p" (or just Enter) as in place', async () => {
    const r = await run([xmlFile()], 'import', () => Promise.resolve(''));
    expect(r.calls[0]![1]).toMatchObject({ disks: 'in-place' });
    expect(r.out).toContain('Disks (used where they are; deleting the VM keeps them):');
  });

  it('does not ask when a flag says it', async () => {
    const ask: Ask = () => {
      throw new Error('asked');
    };
    expect((await run([xmlFile(), '--copy-disks'], 'import', ask)).calls[0]![1]).toMatchObject({ disks: 'copy' });
    expect((await run([xmlFile(), '--in-place'], 'import', ask)).calls[0]![1]).toMatchObject({ disks: 'in-place' });
  });

  it('reads a domain from a libvirt connection with --from', async () => {
    const r = await run(['--from', 'qemu:///system', 'win11', '--in-place'], 'import');
    expect(r.calls).toEqual([
      ['vm.importXml', { from: { uri: 'qemu:///system', domain: 'win11' }, disks: 'in-place' }],
    ]);
    expect(r.out).toMatch(/^Imported the domain "win11" of qemu:\/\/\/system as "win11"/);
  });

  it('prints the VM and what was left out as JSON with --json, without asking', async () => {
    const r = await run([xmlFile(), '--json'], 'import', () => {
      throw new Error('asked');
    });
    expect(JSON.parse(r.out)).toEqual({
      vm: imported,
      dropped: ['the second NIC (bridge br0): vmdesk VMs have one user-mode network.'],
    });
  });

  it('refuses both --copy-disks and --in-place', async () => {
    await expect(run([xmlFile(), '--copy-disks', '--in-place'], 'import')).rejects.toThrow(
      'Give --copy-disks or --in-place, not both.',
    );
  });

  it('says what to give when the file is missing, a folder, or too large', async () => {
    await expect(run(['/nonexistent/win11.xml'], 'import')).rejects.toThrow(
      '/nonexistent/win11.xml does not exist. Give a domain XML file (virsh dumpxml DOMAIN > FILE.xml), or --from URI DOMAIN.',
    );
    await expect(run([os.tmpdir()], 'import')).rejects.toThrow(/is not a file/);
    const big = xmlFile('<domain>' + ' '.repeat(600 * 1024) + '</domain>');
    await expect(run([big], 'import')).rejects.toThrow(`${big} has 601 KiB; domain XML can be at most 512 KiB.`);
  });

  it('takes one file or one domain', async () => {
    await expect(run([], 'import')).rejects.toThrow(/vmdesk import FILE\.xml/);
    await expect(run(['a.xml', 'b.xml'], 'import')).rejects.toThrow(/vmdesk import FILE\.xml/);
  });
});
