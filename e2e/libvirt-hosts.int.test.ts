/**
 * libvirt hosts, for real: a libvirt daemon serving qemu:///system and an sshd on loopback for
 * qemu+ssh://root@127.0.0.1:2222/system (both started by `bash e2e/support/libvirt-env.sh start`,
 * which `.ci/run` runs). A domain defined with virsh is listed by `vmdesk --connect URI list`,
 * started, its serial console answers through libvirt's console stream, its VNC screen shows in
 * Chromium (over SSH through the tunnel to the host's port), state changes made with virsh reach
 * the window from libvirt's events, and it is stopped — over both URIs.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HostConnection } from '../app/main/common/connection-types.js';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { AppPage } from './pages/app-page.js';
import { guestIso, REPO, Sandbox, waitFor } from './support/cli.js';
import {
  domainXml,
  failInCiWhenMissing,
  libvirtMissing,
  SSH_URI as SSH,
  SYSTEM_URI as SYSTEM,
  TestDomains,
  virsh,
} from './support/libvirt.js';
import { CHROMIUM, openPage, shot, startWeb } from './support/web.js';

const READY = 'VMDESK-GUEST-READY';
const missing = fs.existsSync(CHROMIUM) ? libvirtMissing([SYSTEM, SSH]) : `no Chromium at ${CHROMIUM}`;
failInCiWhenMissing('libvirt hosts', missing);

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

describe.skipIf(missing !== undefined)(`libvirt hosts${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const tag = crypto.randomBytes(3).toString('hex');
  let domains: TestDomains;
  beforeAll(() => {
    domains = new TestDomains(tag);
  });
  afterAll(() => domains.cleanup());

  /** `vmdesk --connect URI console NAME`, typing `lines` once the guest said it is ready. */
  function consoleSession(s: Sandbox, uri: string, name: string, lines: string[]) {
    const child = spawn(process.execPath, [path.join(REPO, 'bin/vmdesk.cjs'), '--connect', uri, 'console', name], {
      env: s.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    s.track(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    return {
      output: () => out,
      type: () => child.stdin.write(lines.join('\n') + '\n'),
      detach: () =>
        new Promise<number | null>((resolve) => {
          child.once('exit', (code) => resolve(code));
          child.stdin.write(Buffer.from([0x1d]));
        }),
    };
  }

  it("says why a host refuses, in libvirt's words, with what to do", async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    // No key the loopback sshd lets in (only the test key is authorized).
    const denied = await s.run(['--connect', 'qemu+ssh://root@127.0.0.1:2222/system?no_verify=1', 'list']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/Permission denied \(publickey\)/);
    expect(denied.stderr).toMatch(/ssh-copy-id.*ssh-add/);
    const nothing = await s.run(['--connect', 'qemu+ssh://root@127.0.0.1:1/system?no_verify=1', 'list']);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toMatch(/Connection refused.*Check that root@127.0.0.1 is up/);
    const noDomain = await s.run(['--connect', SYSTEM, 'start', `no-such-domain-${tag}`]);
    expect(noDomain.code).toBe(1);
    expect(noDomain.stderr).toMatch(/No VM named or with id "no-such-domain-.*" on libvirt system \(this computer\)/);
  });

  // qemu:///session differs for a normal user (root's "session" is the system daemon): as nobody,
  // libvirt starts that user's own session daemon, whose QEMU runs as nobody.
  it('over qemu:///session as a normal user: lists, starts, serial console, stops a domain of that user', async () => {
    const NOBODY = 65534;
    const root = fs.mkdtempSync('/tmp/vmd-session-');
    fs.chmodSync(root, 0o755);
    const dirs = ['h', 'h/c', 'h/d', 'h/s', 'h/k', 'run'].map((d) => path.join(root, d));
    for (const d of dirs) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    const iso = path.join(root, 'h', 'guest.iso');
    fs.copyFileSync(guestIso(), iso);
    execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, root]);
    const env = {
      PATH: process.env['PATH'],
      HOME: dirs[0],
      XDG_CONFIG_HOME: dirs[1],
      XDG_DATA_HOME: dirs[2],
      XDG_STATE_HOME: dirs[3],
      XDG_CACHE_HOME: dirs[4],
      XDG_RUNTIME_DIR: dirs[5],
    };
    const asNobody = (cmd: string, args: string[]) =>
      new Promise<{ code: number; out: string }>((resolve) => {
        execFile(
          'setpriv',
          [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', cmd, ...args],
          { env, encoding: 'utf8', timeout: 120_000 },
          (err, stdout, stderr) =>
            resolve({ code: err ? Number((err as { code?: number }).code ?? 99) : 0, out: stdout + stderr }),
        );
      });
    const vmdesk = (...args: string[]) => asNobody(process.execPath, [path.join(REPO, 'bin/vmdesk.cjs'), ...args]);
    const session = 'qemu:///session';
    const name = `vmdesk-it-${tag}-session`;
    cleanups.push(async () => {
      await asNobody('virsh', ['-c', session, 'destroy', name]);
      await asNobody('virsh', ['-c', session, 'undefine', name]);
      // The session daemon would linger until its idle timeout: it is ours, end it.
      for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        try {
          const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
          if (environ.includes(`XDG_RUNTIME_DIR=${dirs[5]}\0`)) process.kill(Number(pid), 'SIGTERM');
        } catch {
          // gone, or not ours to read
        }
      }
      fs.rmSync(root, { recursive: true, force: true });
    });
    const xml = path.join(root, 'h', 'domain.xml');
    fs.writeFileSync(xml, domainXml(name, iso));
    fs.chownSync(xml, NOBODY, NOBODY);
    const defined = await asNobody('virsh', ['-c', session, 'define', xml]);
    expect(defined.code, defined.out).toBe(0);

    const listed = await vmdesk('--connect', session, 'list', '--json');
    expect(listed.code, listed.out).toBe(0);
    expect((JSON.parse(listed.out) as VmSummary[]).map((v) => [v.name, v.state])).toEqual([[name, 'stopped']]);
    const started = await vmdesk('--connect', session, 'start', name);
    expect(started.out).toContain(`${name}: running`);
    // Its QEMU runs as the user, not as root or libvirt-qemu.
    const qemu = execFileSync('pgrep', ['-u', String(NOBODY), '-f', `guest=${name}`], { encoding: 'utf8' }).trim();
    expect(qemu).toMatch(/^\d+/);

    const child = spawn(
      'setpriv',
      [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        '--clear-groups',
        process.execPath,
        path.join(REPO, 'bin/vmdesk.cjs'),
        '--connect',
        session,
        'console',
        name,
      ],
      { env, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    cleanups.push(() => void child.kill());
    await waitFor(() => out.includes(READY), `${READY} on the session domain's console`, 150_000);
    child.stdin.write(Buffer.from([0x1d]));

    const stopped = await vmdesk('--connect', session, 'stop', name);
    expect(stopped.out).toContain(`${name}: stopped`);
  });

  it.each([
    ['qemu:///system', SYSTEM],
    ['qemu+ssh (loopback sshd, the SSH tunnel to the display)', SSH],
  ])(
    'over %s: lists a virsh-defined domain, starts it, serial and screen work, virsh changes reach the window, stops it',
    async (_label, uri) => {
      const name = `vmdesk-it-${tag}-${uri === SYSTEM ? 'sys' : 'ssh'}`;
      domains.define(name);
      const s = new Sandbox();
      cleanups.push(() => s.cleanup());
      const web = await startWeb(s);
      cleanups.push(() => web.stop());

      // `--connect` (a client of the running `vmdesk web`) lists the host's VMs, and like virsh -c
      // leaves no connection behind in that driver.
      const listed = await s.json<VmSummary[]>(['--connect', uri, 'list']);
      const vm = listed.find((v) => v.name === name);
      expect(vm, `${name} in ${JSON.stringify(listed.map((v) => v.name))}`).toBeDefined();
      expect(vm!.state).toBe('stopped');
      expect(vm!.host).toMatchObject({ uri, domain: name });
      expect(vm!.id).toMatch(/^lv-[0-9a-f]{8}\/[0-9a-f-]{36}$/);
      expect((await s.json<HostConnection[]>(['connections'])).map((c) => c.uri)).toEqual(['local']);
      expect((await s.json<VmSummary[]>(['list'])).some((v) => v.id === vm!.id)).toBe(false);

      // `vmdesk connect` connects the running driver: its plain list has the host's VMs after its own.
      const connected = await s.run(['connect', uri]);
      expect(connected.stdout).toMatch(/^Connected to .*libvirt \d+\.\d+\.\d+\)\.\n$/);
      expect((await s.json<VmSummary[]>(['list'])).some((v) => v.id === vm!.id)).toBe(true);

      const started = await s.run(['--connect', uri, 'start', name]);
      expect(started.stderr).toBe('');
      expect(started.stdout).toContain(`${name}: running`);

      // The serial console through libvirt's console stream: the boot's marker, then a command.
      const con = consoleSession(s, uri, name, ['echo hello-$((6*7))']);
      await waitFor(() => con.output().includes(READY), `${READY} on the serial console`, 150_000);
      con.type();
      await waitFor(() => con.output().includes('hello-42'), 'the guest answering on the serial console', 60_000);
      expect(await con.detach()).toBe(0);

      // The window: the VM is listed, its screen lit through the VNC proxy (the SSH tunnel for SSH).
      const app = new AppPage(await openPage(web.url, (c) => cleanups.push(c)));
      await app.waitForState(name, 'running');
      await app.select(name);
      await app.tab('Screen');
      await waitFor(async () => (await app.vncLitShare()) > 0.02, 'VGA text in the noVNC canvas', 90_000);
      await shot(app.page, `libvirt-screen-${uri === SYSTEM ? 'system' : 'ssh'}`);

      // Changes made outside vmdesk arrive from libvirt's domain events.
      virsh('suspend', name);
      await app.waitForState(name, 'paused', 60_000);
      virsh('resume', name);
      await app.waitForState(name, 'running', 60_000);

      // Refused, with what to do, for what vmdesk does not change on a libvirt host.
      const set = await s.run(['set', `${vm!.id}`, '--memory', '512M']);
      expect(set.code).toBe(1);
      expect(set.stderr).toContain(`virsh -c ${uri} edit ${name}`);

      if (uri === SSH) {
        // The SSH connection dies while the VM runs and its screen is open (libvirt's ssh process,
        // a child of the driver, is killed): the driver hears it from libvirt, the host's VMs leave
        // the list, the screen's own ssh -W tunnel ends with it, and `vmdesk connect` brings them back.
        const ps = () => {
          try {
            return execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(web.child.pid)], { encoding: 'utf8' });
          } catch {
            return ''; // ps exits 1 when the driver has no children
          }
        };
        const children = () =>
          ps()
            .split('\n')
            .map((l) => l.trim())
            .filter((l) => l.split(/\s+/)[1] === 'ssh');
        const tunnels = children().filter((l) => l.includes(' -W '));
        const transport = children().filter((l) => !l.includes(' -W '));
        expect(tunnels, children().join('\n')).toHaveLength(1);
        expect(transport.length, children().join('\n')).toBeGreaterThan(0);
        for (const l of transport) process.kill(Number(l.split(' ')[0]), 'SIGKILL');
        await waitFor(
          async () => !(await s.json<VmSummary[]>(['list'])).some((v) => v.id === vm!.id),
          'the dropped host leaving the list',
          60_000,
        );
        await app.page
          .getByText(/was lost \((the other end closed it|an error)\)/)
          .first()
          .waitFor();
        // The VM on screen is not called deleted: its host is out of reach.
        await app.page.getByText("This VM's host is not connected.").waitFor();
        await shot(app.page, 'libvirt-connection-lost');
        await waitFor(() => children().length === 0, 'no ssh left behind by the lost host', 30_000);
        expect((await s.run(['connect', uri])).code).toBe(0);
        await app.waitForState(name, 'running', 60_000);
      }

      const stopped = await s.run(['--connect', uri, 'stop', name]);
      expect(stopped.stdout).toContain(`${name}: stopped`);
      await app.waitForState(name, 'stopped', 60_000);
      expect(virsh('domstate', name).trim()).toBe('shut off');
    },
    400_000,
  );
});
