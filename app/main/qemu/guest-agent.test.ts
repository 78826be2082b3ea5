// The guest agent client against a scripted agent on a real unix socket (FakeGuestAgent: the
// failures a real agent cannot produce on demand), and against the real qemu-ga run on the host
// in unix-listen mode with every command but a few read-only ones disabled. An agent inside a
// booted guest, behind QEMU's virtio-serial channel, is covered by the e2e guest-agent test.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import { GuestAgent, MAX_REPLY_BYTES, QgaLineReader } from './guest-agent.js';
import type { GuestAgentOptions } from './guest-agent.js';
import { FakeGuestAgent } from './testing/fake-guest-agent.js';

const OSINFO = {
  name: 'Debian GNU/Linux',
  'kernel-release': '6.1.0-18-amd64',
  version: '12 (bookworm)',
  'pretty-name': 'Debian GNU/Linux 12 (bookworm)',
  'version-id': '12',
  'kernel-version': '#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)',
  machine: 'x86_64',
  id: 'debian',
};

const ip = (type: 'ipv4' | 'ipv6', address: string, prefix: number): object => ({
  'ip-address-type': type,
  'ip-address': address,
  prefix,
});

/** Shaped as qemu-ga 7.2 answers on a Linux guest (statistics left out). */
const INTERFACES = [
  {
    name: 'lo',
    'hardware-address': '00:00:00:00:00:00',
    'ip-addresses': [ip('ipv4', '127.0.0.1', 8), ip('ipv6', '::1', 128)],
  },
  {
    name: 'enp0s2',
    'hardware-address': '52:54:00:12:34:56',
    'ip-addresses': [
      ip('ipv4', '10.0.2.15', 24),
      ip('ipv6', 'fec0::5054:ff:fe12:3456', 64),
      ip('ipv6', 'fe80::5054:ff:fe12:3456', 64),
    ],
  },
  { name: 'enp0s3', 'hardware-address': '52:54:00:12:34:57', 'ip-addresses': [ip('ipv4', '169.254.7.9', 16)] },
  { name: 'docker0', 'hardware-address': '02:42:ac:11:00:01' },
];

const commandsOf = (fake: FakeGuestAgent): string[] =>
  fake.received.map((r) => r.execute).filter((c) => c !== 'guest-sync-delimited');

describe('GuestAgent (scripted agent)', () => {
  let dir: string;
  let sock: string;
  let fake: FakeGuestAgent;
  const agents: GuestAgent[] = [];

  const open = (opts?: GuestAgentOptions): GuestAgent => {
    const agent = new GuestAgent(sock, opts);
    agents.push(agent);
    return agent;
  };

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-qga-'));
    sock = path.join(dir, 'qga.sock');
    fake = await FakeGuestAgent.start(sock);
    fake.replies.set('guest-get-host-name', { return: { 'host-name': 'debian-guest' } });
    fake.replies.set('guest-get-osinfo', { return: OSINFO });
    fake.replies.set('guest-network-get-interfaces', { return: INTERFACES });
  });

  afterEach(async () => {
    for (const agent of agents.splice(0)) agent.close();
    await fake.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads hostname, OS and addresses, leaving out loopback and link-local addresses', async () => {
    const info = await open().info();
    expect(info).toEqual({
      hostname: 'debian-guest',
      os: {
        name: 'Debian GNU/Linux',
        id: 'debian',
        version: '12 (bookworm)',
        kernel: '6.1.0-18-amd64',
        prettyName: 'Debian GNU/Linux 12 (bookworm)',
      },
      addresses: [
        { iface: 'enp0s2', address: '10.0.2.15', prefix: 24, family: 'ipv4' },
        { iface: 'enp0s2', address: 'fec0::5054:ff:fe12:3456', prefix: 64, family: 'ipv6' },
      ],
      at: expect.any(String),
    });
    expect(new Date(info.at).toISOString()).toBe(info.at);
    expect(commandsOf(fake)).toEqual(['guest-get-host-name', 'guest-get-osinfo', 'guest-network-get-interfaces']);
  });

  it('leaves the OS out when the agent has no guest-get-osinfo (an old agent)', async () => {
    fake.replies.delete('guest-get-osinfo'); // the fake answers CommandNotFound, as qemu-ga does
    const info = await open().info();
    expect(info.os).toBeUndefined();
    expect(info.hostname).toBe('debian-guest');
    expect(info.addresses).toHaveLength(2);
  });

  it('syncs past stale bytes an earlier client left before the sentinel', async () => {
    // A reply meant for someone else, then half a reply and bytes that are not UTF-8.
    fake.staleBeforeSentinel = Buffer.concat([
      Buffer.from('{"return": {"host-name": "stale"}}\n{"return": {"host-na'),
      Buffer.from([0xc3, 0x28, 0x00, 0x0a]),
    ]);
    const info = await open().info();
    expect(info.hostname).toBe('debian-guest');
  });

  it('says false within the timeout when no agent answers, and works once the agent starts', async () => {
    fake.sleep();
    const agent = open({ timeoutMs: 1500 });
    expect(await agent.ping()).toBe(false);
    expect(fake.received.map((r) => r.execute)).toEqual(['guest-sync-delimited']);

    // The agent starts while the next call waits: it answers the ping's sync (which reached it
    // through the port) before this call's, and the client must not take that reply for its own
    // or the command replies would all be off by one.
    const next = agent.info();
    await fake.waitForRequests(2);
    fake.delayMs = 50; // the stale answers trickle in, so some come after the client's next request
    fake.wake();
    expect((await next).hostname).toBe('debian-guest');
    const syncIds = fake.received.filter((r) => r.execute === 'guest-sync-delimited').map((r) => r.arguments?.id);
    expect(syncIds).toHaveLength(2);
    expect(syncIds[0]).not.toBe(syncIds[1]);
    expect(fake.connections).toBe(2); // the timed-out connection was dropped, with its stale bytes
    expect(await agent.ping()).toBe(true);
  });

  it('rejects with a timeout that names the missing agent when a command gets no answer', async () => {
    fake.replies.set('guest-get-host-name', 'none');
    const agent = open({ timeoutMs: 300 });
    await expect(agent.info()).rejects.toMatchObject({
      code: 'timeout',
      message: expect.stringMatching(/did not answer guest-get-host-name within 300 ms.*qemu-guest-agent/),
    });
    fake.replies.set('guest-get-host-name', { return: { 'host-name': 'later' } });
    expect((await agent.info()).hostname).toBe('later');
    expect(fake.connections).toBe(2);
  });

  it('reassembles replies that arrive in pieces, characters split across chunks included', async () => {
    fake.pieceBytes = 3;
    fake.replies.set('guest-get-host-name', { return: { 'host-name': 'hôte-名前-✓' } });
    const info = await open().info();
    expect(info.hostname).toBe('hôte-名前-✓');
    expect(info.os?.prettyName).toBe('Debian GNU/Linux 12 (bookworm)');
  });

  it('resolves shutdown when the agent accepts it in silence, and reconnects for the next call', async () => {
    fake.replies.set('guest-shutdown', 'none');
    const agent = open({ timeoutMs: 300 });
    await agent.shutdown();
    expect(fake.received.at(-1)).toEqual({ execute: 'guest-shutdown', arguments: { mode: 'powerdown' } });
    await agent.shutdown('reboot');
    expect(fake.received.at(-1)).toEqual({ execute: 'guest-shutdown', arguments: { mode: 'reboot' } });
    expect(await agent.ping()).toBe(true);
    // Each shutdown drops its connection, so a late refusal is never read as another reply.
    expect(fake.connections).toBe(3);
  });

  it('resolves shutdown as soon as QEMU closes the connection', async () => {
    fake.replies.set('guest-shutdown', 'hang-up');
    // Far longer than the test's own timeout: only the hang-up can settle it in time.
    await open({ timeoutMs: 600_000 }).shutdown();
  });

  it('rejects shutdown when the agent refuses it, and when no agent answers', async () => {
    fake.replies.set('guest-shutdown', {
      error: { class: 'CommandNotFound', desc: 'Command guest-shutdown has been disabled' },
    });
    const agent = open({ timeoutMs: 300 });
    await expect(agent.shutdown()).rejects.toMatchObject({
      code: 'unsupported',
      message: expect.stringContaining('does not offer guest-shutdown (Command guest-shutdown has been disabled)'),
    });
    fake.sleep();
    await expect(agent.shutdown()).rejects.toMatchObject({ code: 'timeout' });
  });

  it('closes the connection on a reply over 1 MiB, and the next call reconnects', async () => {
    fake.replies.set('guest-get-host-name', { return: { 'host-name': 'x'.repeat(2 * MAX_REPLY_BYTES) } });
    const agent = open();
    await expect(agent.info()).rejects.toMatchObject({
      code: 'qemu-failed',
      message: expect.stringContaining(`a reply over ${MAX_REPLY_BYTES} bytes; vmdesk closed the connection`),
    });
    fake.replies.set('guest-get-host-name', { return: { 'host-name': 'debian-guest' } });
    expect((await agent.info()).hostname).toBe('debian-guest');
    expect(fake.connections).toBe(2);
  });

  it('rejects garbage with the words it got, and the next call reconnects', async () => {
    fake.replies.set('guest-get-host-name', { raw: 'this is not json\n' });
    const agent = open();
    const err = await agent.info().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmdeskError);
    expect(err).toMatchObject({
      code: 'qemu-failed',
      message: expect.stringContaining('not a guest agent reply to guest-get-host-name: this is not json'),
    });
    fake.replies.set('guest-fsfreeze-status', { return: 42 }); // JSON, but not what the schema says
    await expect(agent.freezeStatus()).rejects.toMatchObject({
      code: 'qemu-failed',
      message: expect.stringContaining('not a guest agent reply to guest-fsfreeze-status: 42.'),
    });
    fake.replies.set('guest-fsfreeze-status', { return: 'thawed' });
    expect(await agent.freezeStatus()).toBe('thawed');
    expect(fake.connections).toBe(3);
  });

  it('runs queued calls one at a time, in the order they were made', async () => {
    fake.delayMs = 20; // an overlapping client would have several requests waiting meanwhile
    fake.replies.set('guest-fsfreeze-freeze', { return: 2 });
    fake.replies.set('guest-fsfreeze-thaw', { return: 2 });
    fake.replies.set('guest-fsfreeze-status', { return: 'frozen' });
    const agent = open();
    const results = await Promise.all([agent.ping(), agent.freeze(), agent.freezeStatus(), agent.thaw(), agent.info()]);
    expect(results.slice(0, 4)).toEqual([true, 2, 'frozen', 2]);
    expect(commandsOf(fake)).toEqual([
      'guest-ping',
      'guest-fsfreeze-freeze',
      'guest-fsfreeze-status',
      'guest-fsfreeze-thaw',
      'guest-get-host-name',
      'guest-get-osinfo',
      'guest-network-get-interfaces',
    ]);
    expect(fake.maxOutstanding).toBe(1);
    expect(fake.connections).toBe(1);
  });

  it('says which freezes the agent cannot do: unsupported when missing, its own words otherwise', async () => {
    const agent = open();
    await expect(agent.freeze()).rejects.toMatchObject({
      code: 'unsupported',
      details: { command: 'guest-fsfreeze-freeze', agentError: 'CommandNotFound' },
    });
    fake.replies.set('guest-fsfreeze-freeze', {
      error: { class: 'GenericError', desc: 'failed to freeze /: Operation not supported' },
    });
    await expect(agent.freeze()).rejects.toMatchObject({ code: 'unsupported' });
    fake.replies.set('guest-fsfreeze-thaw', { error: { class: 'GenericError', desc: 'failed to thaw /boot: EIO' } });
    await expect(agent.thaw()).rejects.toMatchObject({
      code: 'qemu-failed',
      message: 'The guest agent refused guest-fsfreeze-thaw: failed to thaw /boot: EIO',
    });
  });

  it('reconnects after QEMU closes the connection', async () => {
    const agent = open();
    expect(await agent.ping()).toBe(true);
    fake.hangUp(); // the client may or may not have seen the close when the next call starts
    expect(await agent.ping()).toBe(true);
    expect(fake.connections).toBe(2);
  });

  it('fails a command whose connection closes under it, without sending it again', async () => {
    fake.replies.set('guest-get-osinfo', 'hang-up');
    const agent = open();
    await expect(agent.info()).rejects.toMatchObject({
      code: 'invalid-state',
      message: expect.stringContaining('connection was closed: the VM may be stopping'),
    });
    expect(commandsOf(fake)).toEqual(['guest-get-host-name', 'guest-get-osinfo']);
    expect(await agent.ping()).toBe(true);
  });

  it('rejects the running and queued calls on close(), and any call after it', async () => {
    fake.sleep();
    const agent = open({ timeoutMs: 600_000 });
    const running = agent.info();
    const queued = agent.freeze();
    const pinged = agent.ping();
    await fake.waitForRequests(1);
    agent.close();
    await expect(running).rejects.toMatchObject({
      code: 'cancelled',
      message: 'The guest agent client was closed before the call finished.',
    });
    await expect(queued).rejects.toMatchObject({ code: 'cancelled' });
    expect(await pinged).toBe(false);
    expect(await agent.ping()).toBe(false);
    await expect(agent.info()).rejects.toMatchObject({ code: 'invalid-state', message: /closed; make a new one/ });
  });

  it('leaves nothing that keeps Node running after close() in the middle of a call', async () => {
    // In a child process, so "Node exits by itself" is what is checked: a timer or socket left
    // behind would keep the child alive and this test would run into its timeout.
    fake.sleep();
    const entry = path.join(dir, 'entry.mjs');
    const guestAgent = fileURLToPath(new URL('./guest-agent.ts', import.meta.url));
    fs.writeFileSync(
      entry,
      [
        `import { GuestAgent } from ${JSON.stringify(guestAgent)};`,
        `const agent = new GuestAgent(${JSON.stringify(sock)}, { timeoutMs: 600000 });`,
        'agent.info().catch((e) => console.log(e.code));',
        'process.once("message", () => { agent.close(); process.disconnect(); });',
      ].join('\n'),
    );
    const bundle = path.join(dir, 'bundle.mjs');
    buildSync({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: bundle,
      logLevel: 'silent',
    });
    const child = spawn(process.execPath, [bundle], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await fake.waitForRequests(1); // the call is waiting for the agent
    child.send('close');
    expect(await exited).toBe(0);
    expect(out.trim()).toBe('cancelled');
  });

  it('says the VM is not running when the socket is missing', async () => {
    const agent = open();
    await fake.close();
    fs.rmSync(sock, { force: true });
    expect(await agent.ping()).toBe(false);
    await expect(agent.info()).rejects.toMatchObject({
      code: 'invalid-state',
      message: expect.stringMatching(
        /Cannot reach the guest agent channel .*qga\.sock \(ENOENT\): the VM is not running/,
      ),
    });
    fake = await FakeGuestAgent.start(sock); // for afterEach
  });
});

describe('QgaLineReader', () => {
  const feed = (reader: QgaLineReader, bytes: Buffer): string[] =>
    [...bytes].flatMap((b) => reader.push(Buffer.from([b])));

  it('reassembles lines fed one byte at a time, multi-byte characters included', () => {
    const reader = new QgaLineReader();
    expect(feed(reader, Buffer.from('{"return": "名前"}\n{"return": 1}\n'))).toEqual([
      '{"return": "名前"}',
      '{"return": 1}',
    ]);
  });

  it('discards everything up to the sentinel, and a partial line at any 0xFF', () => {
    const reader = new QgaLineReader();
    reader.skipToSentinel();
    const bytes = Buffer.concat([
      Buffer.from('{"return": 7}\n{"ret'),
      Buffer.from([0xff]),
      Buffer.from('{"return": 8}\n{"half'),
      Buffer.from([0xff]),
      Buffer.from('{"return": 9}\n'),
    ]);
    expect(reader.push(bytes)).toEqual(['{"return": 8}', '{"return": 9}']);
  });

  it('refuses a line longer than its limit instead of growing', () => {
    const reader = new QgaLineReader(16);
    expect(reader.push(Buffer.from('0123456789'))).toEqual([]);
    expect(() => reader.push(Buffer.from('0123456789'))).toThrow(RangeError);
    expect(reader.push(Buffer.from('{"return": 1}\n'))).toEqual(['{"return": 1}']);
  });
});

/** Only what reads; everything else (shutdown, freeze, exec, file, set-*) is disabled. */
const HOST_AGENT_ALLOWED = new Set([
  'guest-sync-delimited',
  'guest-sync',
  'guest-ping',
  'guest-info',
  'guest-get-host-name',
  'guest-get-osinfo',
  'guest-network-get-interfaces',
  'guest-fsfreeze-status',
]);

function findQemuGa(): string | undefined {
  for (const p of ['/usr/sbin/qemu-ga', '/usr/bin/qemu-ga', '/usr/local/bin/qemu-ga']) {
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

const qemuGa = findQemuGa();

// The real agent, on this host instead of a guest (unix-listen): same protocol and parser as in
// a guest. It runs on the HOST, so it gets a read-only allowlist, and runs as nobody when we are
// root; never widen the list.
describe.skipIf(!qemuGa)('GuestAgent (real qemu-ga in unix-listen mode; skipped when not installed)', () => {
  let dir: string;
  let sock: string;
  let child: ChildProcess;
  let agent: GuestAgent;

  beforeAll(async () => {
    const binary = qemuGa!;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-qemu-ga-'));
    fs.chmodSync(dir, 0o777);
    sock = path.join(dir, 'qga.sock');
    const all = execFileSync(binary, ['-b', 'help'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    const blocked = all.filter((c) => !HOST_AGENT_ALLOWED.has(c));
    expect(blocked).toContain('guest-shutdown');
    expect(blocked).toContain('guest-fsfreeze-freeze');
    const args = ['-m', 'unix-listen', '-p', sock, '-t', dir, '-f', path.join(dir, 'pid'), '-b', blocked.join(',')];
    const asNobody = ['--reuid=nobody', '--regid=nogroup', '--clear-groups', binary, ...args];
    child =
      process.getuid?.() === 0
        ? spawn('setpriv', asNobody, { stdio: 'ignore' })
        : spawn(binary, args, { stdio: 'ignore' });
    for (let i = 0; i < 500 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 10));
    agent = new GuestAgent(sock, { timeoutMs: 5000 });
  });

  afterAll(async () => {
    agent?.close();
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pings and reads this machine the way a guest would report itself', async () => {
    expect(await agent.ping()).toBe(true);
    const info = await agent.info();
    expect(info.hostname).toBe(os.hostname());
    const osRelease = fs.readFileSync('/etc/os-release', 'utf8');
    expect(info.os?.name).toBe(/^NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1]);
    expect(info.os?.kernel).toBe(os.release());
    const expected = Object.entries(os.networkInterfaces()).flatMap(([iface, list]) =>
      (list ?? [])
        .filter((a) => !a.internal && !a.address.startsWith('169.254.') && !/^fe[89ab]/i.test(a.address))
        .map((a) => `${iface} ${a.address}`),
    );
    expect(info.addresses.map((a) => `${a.iface} ${a.address}`).sort()).toEqual(expected.sort());
  });

  it('reports a disabled command as unsupported, and the stream stays in sync', async () => {
    await expect(agent.shutdown()).rejects.toMatchObject({ code: 'unsupported' });
    await expect(agent.freeze()).rejects.toMatchObject({ code: 'unsupported' });
    expect(await agent.freezeStatus()).toBe('thawed');
  });
});
