/**
 * Security properties of a running system, checked on the real processes and files:
 * private files and sockets, QEMU's seccomp sandbox, no secret on any command line, and no TCP
 * listener except the web server's own loopback port.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { guestIso, Sandbox } from './support/cli.js';
import { startWeb } from './support/web.js';

const s = new Sandbox();
afterAll(() => s.cleanup());

/** Listening TCP sockets (state 0A) by inode, with their local address. */
function tcpListeners(): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A') out.set(cols[9]!, cols[1]!);
    }
  }
  return out;
}

/** Local addresses of the TCP listeners a process holds. */
function listenersOf(pid: number): string[] {
  const listening = tcpListeners();
  const found: string[] = [];
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let target = '';
    try {
      target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m && listening.has(m[1]!)) found.push(listening.get(m[1]!)!);
  }
  return found;
}

const mode = (p: string) => fs.statSync(p).mode & 0o777;

describe('security of a running vmdesk', () => {
  it('keeps files and sockets private, sandboxes QEMU, leaks no token, and listens on TCP only where asked', async () => {
    await s.json(['define', '--name', 'sec', '--memory', '128M', '--cdrom', guestIso()]);
    const web = await startWeb(s);
    const vm = await s.json<VmSummary>(['start', 'sec']); // through the web process, the owner

    // Directories 0700, files and sockets 0600 (or stricter): nothing for group or others.
    const runtime = path.join(s.env.XDG_RUNTIME_DIR!, 'vmdesk');
    const config = path.join(s.env.XDG_CONFIG_HOME!, 'vmdesk');
    const privateDirs = [
      runtime,
      path.dirname(vm.paths!.qmp),
      config,
      path.join(config, 'vms'),
      path.dirname(vm.paths!.qemuLog),
      path.join(s.env.XDG_STATE_HOME!, 'vmdesk'),
    ];
    for (const d of privateDirs) expect(mode(d), d).toBe(0o700);
    const privateFiles = [
      vm.file,
      vm.paths!.qemuLog,
      vm.paths!.serialLog,
      vm.paths!.driverLog,
      path.join(config, 'web-token'),
      path.join(config, 'driver.lock'),
      vm.paths!.qmp,
      vm.paths!.serial,
      vm.paths!.vnc,
      path.join(runtime, 'control.sock'),
      path.join(path.dirname(vm.paths!.qmp), 'qemu.pid'),
    ];
    for (const f of privateFiles) expect(mode(f) & 0o077, `${f} is ${mode(f).toString(8)}`).toBe(0);

    // QEMU runs under its seccomp sandbox.
    const argv = fs.readFileSync(`/proc/${vm.pid}/cmdline`, 'utf8').split('\0');
    expect(argv[argv.indexOf('-sandbox') + 1]).toBe(
      'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    );

    // The web token is on no command line and in no QEMU environment.
    const token = fs.readFileSync(path.join(config, 'web-token'), 'utf8').trim();
    for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      let cmd = '';
      try {
        cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      expect(cmd.includes(token), `the token is on the command line of pid ${pid}`).toBe(false);
    }
    expect(fs.readFileSync(`/proc/${vm.pid}/environ`, 'utf8').includes(token)).toBe(false);

    // TCP: QEMU (no port forwards) listens nowhere; the web server only on its loopback port.
    expect(listenersOf(vm.pid!)).toEqual([]);
    const webListeners = listenersOf(web.child.pid!);
    expect(webListeners).toHaveLength(1);
    expect(webListeners[0]).toBe(`0100007F:${web.port.toString(16).toUpperCase().padStart(4, '0')}`);
    await web.stop();

    // The headless driver (what the desktop app embeds) listens on no TCP port at all.
    const driver = await s.startDriver();
    expect(listenersOf(driver.pid!)).toEqual([]);
    expect((await s.run(['stop', 'sec'])).code).toBe(0);
  });
});
