/**
 * The libvirt comparison: `virsh -c qemu:///session` (libvirt's own session mode, as the user,
 * no root) defining and starting the same VM. Used only when `virsh` is on PATH; the bench never
 * installs it. NOT exercised on the machine this was written on (no libvirt there): if it breaks,
 * the bench reports the libvirt rows as failed with virsh's message and the other rows still run.
 *
 * One set of XDG dirs serves every libvirt run (unlike vmdesk's fresh dirs per run): the first
 * virsh call autostarts the session daemon (virtqemud or libvirtd --timeout) in those dirs, and a
 * fresh runtime dir per run would time that daemon start-up on every run, which a user meets
 * only once. The warm-up round pays it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Accel } from '../../app/main/common/host-types.js';
import { onPath } from './machine.js';
import type { BenchSandbox } from './sandbox.js';

const URI = 'qemu:///session';

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
}

/** The domain vmdesk's argv describes: q35, TCG, `-cpu max`, 256 MiB, 1 vCPU, the ISO on SATA,
 * user networking on virtio-net, VGA on a VNC unix socket, xHCI tablet, serial on a unix socket. */
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
    <emulator>${e(o.emulator)}</emulator>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='${e(o.iso)}'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
      <boot order='1'/>
    </disk>
    <interface type='user'><model type='virtio'/></interface>
    <serial type='unix'><source mode='bind' path='${e(path.join(o.runDir, 'serial.sock'))}'/></serial>
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
  ) {}

  /** Runs one virsh command; resolves with its wall time in ms, rejects with virsh's words. */
  private run(args: string[]): Promise<number> {
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      execFile(
        this.virsh,
        ['-c', URI, ...args],
        { env: this.sb.env, timeout: 120_000, encoding: 'utf8' },
        (err, _out, stderr) => {
          if (err) reject(new Error(`virsh ${args[0]} failed: ${(stderr || err.message).trim()}`));
          else resolve(performance.now() - t0);
        },
      );
    });
  }

  /** define + start; ms is the sum of both virsh calls (each includes virsh's own start-up,
   * as vmdesk's CLI row includes Node's). */
  async start(o: DomainSpec): Promise<number> {
    const runDir = fs.mkdtempSync(path.join(this.sb.root, 'lv-'));
    const xml = path.join(runDir, 'domain.xml');
    fs.writeFileSync(xml, domainXml({ ...o, runDir }));
    const defineMs = await this.run(['define', xml]);
    return defineMs + (await this.run(['start', o.name]));
  }

  /** `virsh destroy` (libvirt's force off): returns once QEMU is gone. Then undefine, untimed. */
  async destroy(name: string): Promise<number> {
    const ms = await this.run(['destroy', name]);
    await this.run(['undefine', name]).catch(() => undefined);
    return ms;
  }

  /** Best-effort teardown of what the bench created: any leftover domain, then the session daemon
   * that virsh autostarted in this sandbox (found by its pidfile in the sandbox's runtime dir). */
  async close(names: readonly string[]): Promise<void> {
    for (const n of names) {
      await this.run(['destroy', n]).catch(() => undefined);
      await this.run(['undefine', n]).catch(() => undefined);
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
