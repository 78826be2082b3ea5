/**
 * The libvirt hosts the tests use: the daemon serving qemu:///system and the loopback sshd for
 * qemu+ssh (both started by `sudo bash e2e/support/libvirt-env.sh start`, which `.ci/run` runs),
 * and the test guest as a libvirt domain.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { guestIso } from './cli.js';

export const LIBVIRT_ENV_DIR = process.env['VMDESK_LIBVIRT_ENV'] ?? '/var/lib/vmdesk-test-libvirt';
/** The key libvirt-env.sh made and the loopback sshd lets in. */
export const TEST_KEY = path.join(LIBVIRT_ENV_DIR, 'id_ed25519');
export const SYSTEM_URI = 'qemu:///system';
/** The loopback sshd of libvirt-env.sh (no host key check: its host key is made for the tests). */
export const SSH_URI = `qemu+ssh://root@127.0.0.1:2222/system?keyfile=${TEST_KEY}&no_verify=1`;
/** libvirt's QEMU runs as libvirt-qemu: guest images live where that user can read them. */
export const LIBVIRT_IMAGES = '/var/lib/libvirt/images';

const START = 'run `sudo bash e2e/support/libvirt-env.sh start`';

/** Why the hosts at `uris` (and the `tools`) are not there, or undefined when they are. */
export function libvirtMissing(uris: string[] = [SYSTEM_URI], tools: string[] = ['virsh']): string | undefined {
  for (const tool of tools) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'pipe' });
    } catch {
      return `${tool} is not installed (apt install libvirt-clients libxml2-utils)`;
    }
  }
  if (uris.includes(SSH_URI) && !fs.existsSync(TEST_KEY)) return `no test key ${TEST_KEY}: ${START}`;
  for (const uri of uris) {
    try {
      execFileSync('virsh', ['-c', uri, 'version'], { stdio: 'pipe', timeout: 20_000 });
    } catch (err) {
      return `virsh -c ${uri} does not answer (${String((err as Error).message).split('\n')[0]}): ${START}`;
    }
  }
  return undefined;
}

/** Under CI the hosts must be there (.ci/run starts them): their absence fails, never skips. */
export function failInCiWhenMissing(title: string, missing: string | undefined): void {
  describe.runIf(missing !== undefined && process.env['CI'] === 'true')(`${title} (CI)`, () => {
    it('has the libvirt hosts that .ci/run starts', () => {
      expect(missing).toBeUndefined();
    });
  });
}

/** virsh on qemu:///system. The first define after QEMU changed probes its capabilities (slow under TCG). */
export function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-c', SYSTEM_URI, ...args], { encoding: 'utf8', stdio: 'pipe', timeout: 300_000 });
}

/** A small TCG domain booting `iso` (serial pty + console, VNC on loopback). */
export function domainXml(name: string, iso: string): string {
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='cdrom'/></os>
  <devices>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='${iso}'/><target dev='hdc' bus='ide'/><readonly/></disk>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <graphics type='vnc' autoport='yes' listen='127.0.0.1'/>
    <video><model type='vga'/></video>
  </devices>
</domain>`;
}

/**
 * Test guests as libvirt domains: a copy of the guest ISO where libvirt's QEMU can read it, and
 * small TCG domains booting it (serial pty + console, VNC on loopback). `cleanup` destroys and
 * undefines them and removes the copy.
 */
export class TestDomains {
  readonly iso: string;
  readonly #names: string[] = [];

  constructor(tag: string) {
    this.iso = path.join(LIBVIRT_IMAGES, `vmdesk-it-${tag}.iso`);
    fs.mkdirSync(LIBVIRT_IMAGES, { recursive: true });
    fs.copyFileSync(guestIso(), this.iso);
    fs.chmodSync(this.iso, 0o644);
  }

  define(name: string): void {
    const xml = domainXml(name, this.iso);
    const dir = fs.mkdtempSync('/tmp/vmd-lv-');
    try {
      fs.writeFileSync(path.join(dir, 'domain.xml'), xml);
      virsh('define', path.join(dir, 'domain.xml'));
      this.#names.push(name);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  cleanup(): void {
    for (const name of this.#names) {
      for (const step of ['destroy', 'undefine']) {
        try {
          virsh(step, name);
        } catch {
          // not running / already gone
        }
      }
    }
    fs.rmSync(this.iso, { force: true });
  }
}
