import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { QmpClient } from './qmp-client.js';
import type { QmpClientOptions } from './qmp-client.js';
import { QmpCommandError, QmpConnectionError, QmpTimeoutError } from './qmp-types.js';
import type { QmpEvent } from './qmp-types.js';

const GREETING = {
  QMP: { version: { qemu: { micro: 22, minor: 2, major: 7 }, package: 'Debian 1:7.2+dfsg-7' }, capabilities: ['oob'] },
};

interface Command {
  execute: string;
  arguments?: Record<string, unknown>;
  id: unknown;
}

interface FakeOptions {
  /** Send this greeting on connect (default GREETING); false sends none. */
  greeting?: object | false;
  /** Answer qmp_capabilities automatically (default true). */
  autoNegotiate?: boolean;
  /** Never read from the connection, so a destroy() resets the client (real ECONNRESET). */
  neverRead?: boolean;
}

/** A scripted QMP server on a unix socket: the test reads commands and writes what QEMU would. */
class FakeQmp {
  conn: net.Socket | undefined;
  readonly received: Command[] = [];
  readonly #queue: Command[] = [];
  readonly #waiters: ((cmd: Command) => void)[] = [];
  readonly #connClosed: Promise<void>;
  #markConnClosed!: () => void;

  private constructor(
    readonly path: string,
    readonly server: net.Server,
  ) {
    this.#connClosed = new Promise((resolve) => (this.#markConnClosed = resolve));
  }

  static async start(socketPath: string, opts: FakeOptions = {}): Promise<FakeQmp> {
    const server = net.createServer({ pauseOnConnect: opts.neverRead ?? false });
    const fake = new FakeQmp(socketPath, server);
    server.on('connection', (conn) => fake.#accept(conn, opts));
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    return fake;
  }

  #accept(conn: net.Socket, opts: FakeOptions): void {
    this.conn = conn;
    conn.on('error', () => {}); // the client may reset us; that is not what these tests check
    conn.on('close', () => this.#markConnClosed());
    if (opts.greeting !== false) this.send(opts.greeting ?? GREETING);
    if (opts.neverRead) return;
    let buffer = '';
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      const lines = (buffer + chunk).split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const cmd = JSON.parse(line) as Command;
        this.received.push(cmd);
        if (cmd.execute === 'qmp_capabilities' && opts.autoNegotiate !== false) this.reply(cmd);
        else (this.#waiters.shift() ?? ((c) => this.#queue.push(c)))(cmd);
      }
    });
  }

  /** The next command the client sent (other than an auto-answered qmp_capabilities). */
  next(): Promise<Command> {
    const queued = this.#queue.shift();
    return queued ? Promise.resolve(queued) : new Promise((resolve) => this.#waiters.push(resolve));
  }

  send(msg: object): void {
    this.write(`${JSON.stringify(msg)}\n`);
  }

  write(raw: string | Buffer): Promise<void> {
    return new Promise((resolve) => this.conn?.write(raw, () => resolve()));
  }

  reply(cmd: Command, ret: unknown = {}): void {
    this.send({ return: ret, id: cmd.id });
  }

  connClosed(): Promise<void> {
    return this.#connClosed;
  }

  close(): Promise<void> {
    this.conn?.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const event = (name: string, data?: object): object => ({
  event: name,
  ...(data && { data }),
  timestamp: { seconds: 1700000000, microseconds: 42 },
});

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function closeCause(client: QmpClient): Promise<Error | undefined> {
  return new Promise((resolve) => client.onClose(resolve));
}

function errnoError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`read ${code}`), { code });
}

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.restoreAllMocks();
  vi.useRealTimers();
});

function tempSocketPath(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qmp-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'qmp.sock');
}

async function startFake(opts?: FakeOptions): Promise<FakeQmp> {
  const fake = await FakeQmp.start(tempSocketPath(), opts);
  cleanups.push(() => fake.close());
  return fake;
}

function newClient(socketPath: string, opts?: QmpClientOptions): QmpClient {
  const client = new QmpClient(socketPath, opts);
  cleanups.push(() => client.close());
  return client;
}

async function connected(opts?: FakeOptions & QmpClientOptions): Promise<{ fake: FakeQmp; client: QmpClient }> {
  const fake = await startFake(opts);
  const client = newClient(fake.path, opts);
  await client.connect();
  return { fake, client };
}

/** Captures the client's socket so a test can inject what libuv reports or watch writes. */
function spyOnSockets(): net.Socket[] {
  const sockets: net.Socket[] = [];
  const original = net.createConnection.bind(net);
  vi.spyOn(net, 'createConnection').mockImplementation(((...args: Parameters<typeof net.createConnection>) => {
    const socket = original(...args);
    sockets.push(socket);
    return socket;
  }) as typeof net.createConnection);
  return sockets;
}

describe('QmpClient', () => {
  it('reads the greeting, negotiates capabilities and then runs', async () => {
    const fake = await startFake({ autoNegotiate: false });
    const client = newClient(fake.path);
    expect(client.state).toBe('idle');
    const connecting = client.connect();
    expect(client.state).toBe('connecting');
    const caps = await fake.next();
    expect(caps.execute).toBe('qmp_capabilities');
    expect(client.state).toBe('negotiating');
    expect(client.greeting).toEqual({
      version: { major: 7, minor: 2, micro: 22 },
      package: 'Debian 1:7.2+dfsg-7',
      capabilities: ['oob'],
    });
    fake.reply(caps);
    await connecting;
    expect(client.state).toBe('running');
    await expect(client.connect()).rejects.toBeInstanceOf(QmpConnectionError);
  });

  it('matches replies to requests by id when QEMU answers out of order', async () => {
    const { fake, client } = await connected();
    const results = [client.execute('a'), client.execute('b', { x: 1 }), client.execute('c')];
    const [a, b, c] = [await fake.next(), await fake.next(), await fake.next()];
    expect(b?.arguments).toEqual({ x: 1 });
    expect(new Set([a?.id, b?.id, c?.id]).size).toBe(3);
    fake.reply(c!, 'C');
    fake.reply(a!, 'A');
    fake.reply(b!, 'B');
    await expect(Promise.all(results)).resolves.toEqual(['A', 'B', 'C']);
  });

  it('reassembles a reply split across chunks, even inside a multi-byte character', async () => {
    const { fake, client } = await connected();
    const result = client.execute('query-name');
    const cmd = await fake.next();
    const bytes = Buffer.from(`${JSON.stringify({ return: { name: 'prix €5' }, id: cmd.id })}\n`);
    for (let i = 0; i < bytes.length; i += 3) {
      await fake.write(bytes.subarray(i, i + 3)); // 3-byte slices cut '€' (e2 82 ac) in two
      await tick();
    }
    await expect(result).resolves.toEqual({ name: 'prix €5' });
  });

  it('handles several messages in one chunk, and a message that ends in the next chunk', async () => {
    const { fake, client } = await connected();
    const events: string[] = [];
    client.onEvent((e) => events.push(e.event));
    const results = [client.execute('a'), client.execute('b'), client.execute('c')];
    const [a, b, c] = [await fake.next(), await fake.next(), await fake.next()];
    const messages = [event('RESUME'), { return: 1, id: a?.id }, { return: 2, id: b?.id }, { return: 3, id: c?.id }];
    const all = messages.map((m) => `${JSON.stringify(m)}\n`).join('');
    await fake.write(all.slice(0, -10));
    await tick();
    await fake.write(all.slice(-10));
    await expect(Promise.all(results)).resolves.toEqual([1, 2, 3]);
    expect(events).toEqual(['RESUME']);
  });

  it('delivers events sent before the qmp_capabilities reply, in order, before later ones', async () => {
    const fake = await startFake({ autoNegotiate: false });
    const client = newClient(fake.path);
    const events: QmpEvent[] = [];
    const statesSeen = new Set<string>();
    client.onEvent((e) => {
      events.push(e);
      statesSeen.add(client.state);
    });
    const connecting = client.connect();
    const caps = await fake.next();
    fake.send(event('STOP'));
    fake.send(event('BLOCK_IO_ERROR', { device: 'disk0' }));
    // The reply and an event right behind it, in one chunk.
    await fake.write(`${JSON.stringify({ return: {}, id: caps.id })}\n${JSON.stringify(event('RESUME'))}\n`);
    await connecting;
    fake.send(event('SHUTDOWN', { guest: true }));
    await vi.waitFor(() => expect(events).toHaveLength(4));
    expect(events.map((e) => e.event)).toEqual(['STOP', 'BLOCK_IO_ERROR', 'RESUME', 'SHUTDOWN']);
    expect(events[0]).toEqual({ event: 'STOP', data: {}, timestamp: { seconds: 1700000000, microseconds: 42 } });
    expect(events[1]?.data).toEqual({ device: 'disk0' });
    expect([...statesSeen]).toEqual(['running']);
  });

  it('keeps events for a listener that subscribes only after connect() resolved, and stops after dispose', async () => {
    const fake = await startFake({ autoNegotiate: false });
    const client = newClient(fake.path);
    const connecting = client.connect();
    const caps = await fake.next();
    fake.send(event('STOP'));
    await fake.write(`${JSON.stringify({ return: {}, id: caps.id })}\n${JSON.stringify(event('RESUME'))}\n`);
    await connecting;
    await tick();
    const events: string[] = [];
    const dispose = client.onEvent((e) => events.push(e.event));
    await vi.waitFor(() => expect(events).toEqual(['STOP', 'RESUME']));
    dispose();
    fake.send(event('RESET'));
    const status = client.execute('query-status');
    fake.reply(await fake.next(), { status: 'running' });
    await status; // the event, sent before the reply, has been processed by now
    expect(events).toEqual(['STOP', 'RESUME']);
  });

  it('rejects with QmpTimeoutError after the per-request timeout and ignores the late reply', async () => {
    const { fake, client } = await connected();
    const slow = client.execute('slow', undefined, { timeoutMs: 50 });
    const cmd = await fake.next();
    const err = await slow.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpTimeoutError);
    expect(err).toMatchObject({ command: 'slow', timeoutMs: 50 });
    fake.reply(cmd, 'late');
    const next = client.execute('query-status');
    fake.reply(await fake.next(), { status: 'running' });
    await expect(next).resolves.toEqual({ status: 'running' });
    expect(client.state).toBe('running');
  });

  it('rejects with QmpCommandError carrying the error class and description', async () => {
    const { fake, client } = await connected();
    const result = client.execute('blockdev-del', { 'node-name': 'nope' });
    const desc = "Failed to find node with node-name='nope'";
    fake.send({ error: { class: 'GenericError', desc }, id: (await fake.next()).id });
    const err = await result.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpCommandError);
    expect(err).toMatchObject({ command: 'blockdev-del', errorClass: 'GenericError', desc });
    expect(client.state).toBe('running');
  });

  it('resolves quit when QEMU replies, sends SHUTDOWN and closes; ends closed without a cause', async () => {
    const { fake, client } = await connected();
    const events: string[] = [];
    client.onEvent((e) => events.push(e.event));
    const closed = closeCause(client);
    const quit = client.execute('quit');
    fake.reply(await fake.next());
    fake.send(event('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }));
    fake.conn?.end();
    await expect(quit).resolves.toEqual({});
    await expect(closed).resolves.toBeUndefined();
    expect(client.state).toBe('closed');
    expect(events).toEqual(['SHUTDOWN']);
  });

  it('resolves quit when the socket is reset after the reply; a request sent after quit rejects', async () => {
    const sockets = spyOnSockets();
    const { fake, client } = await connected();
    const closed = closeCause(client);
    const quit = client.execute('quit');
    fake.reply(await fake.next());
    await expect(quit).resolves.toEqual({});
    const late = client.execute('query-status');
    await fake.next();
    sockets[0]?.destroy(errnoError('ECONNRESET')); // what libuv reports when QEMU exits with unread input
    await expect(late).rejects.toBeInstanceOf(QmpConnectionError);
    await expect(closed).resolves.toBeUndefined();
    expect(client.state).toBe('closed');
  });

  it('treats quit as successful when the socket breaks before the reply arrives', async () => {
    const sockets = spyOnSockets();
    const { fake, client } = await connected();
    const quit = client.execute('quit');
    await fake.next();
    sockets[0]?.destroy(errnoError('EPIPE'));
    await expect(quit).resolves.toEqual({});
    expect(client.state).toBe('closed');
  });

  it('rejects pending requests with the cause when QEMU drops the connection unexpectedly', async () => {
    const sockets = spyOnSockets();
    const { fake, client } = await connected();
    const closed = closeCause(client);
    const pending = client.execute('query-status');
    await fake.next();
    fake.conn?.destroy();
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpConnectionError);
    const cause = await closed;
    expect(cause).toBeInstanceOf(QmpConnectionError);
    expect(cause?.message).toMatch(/QEMU closed the QMP connection/);
    expect(client.state).toBe('closed');
    const write = vi.spyOn(sockets[0]!, 'write');
    await expect(client.execute('query-status')).rejects.toBeInstanceOf(QmpConnectionError);
    expect(write).not.toHaveBeenCalled();
  });

  it('fails connect() with the root cause when the socket is reset during negotiation', async () => {
    const fake = await startFake({ neverRead: true });
    const client = newClient(fake.path);
    const connecting = client.connect();
    connecting.catch(() => {});
    await vi.waitFor(() => expect(client.greeting).toBeDefined()); // qmp_capabilities is written
    fake.conn?.destroy(); // with our command unread, the kernel resets the client
    const err = await connecting.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpConnectionError);
    expect((err as Error).cause).toMatchObject({ code: 'ECONNRESET' });
    expect(client.state).toBe('closed');
  });

  it('leaves no timers behind once closed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { fake, client } = await connected();
    const answered = client.execute('query-status');
    fake.reply(await fake.next());
    await answered;
    expect(vi.getTimerCount()).toBe(0);
    const pending = client.execute('query-status').catch((e: unknown) => e);
    await fake.next();
    expect(vi.getTimerCount()).toBe(1);
    await client.close();
    expect(await pending).toBeInstanceOf(QmpConnectionError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() rejects pending requests, is idempotent, and execute() afterwards writes nothing', async () => {
    const sockets = spyOnSockets();
    const { fake, client } = await connected();
    const onClose = vi.fn();
    client.onClose(onClose);
    const pending = client.execute('query-status');
    await fake.next();
    const first = client.close();
    expect(client.state).toBe('disconnecting');
    const second = client.close();
    await expect(pending).rejects.toBeInstanceOf(QmpConnectionError);
    await Promise.all([first, second, fake.connClosed()]);
    await client.close();
    expect(client.state).toBe('closed');
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(onClose).toHaveBeenCalledWith(undefined);
    const write = vi.spyOn(sockets[0]!, 'write');
    await expect(client.execute('query-status')).rejects.toBeInstanceOf(QmpConnectionError);
    expect(write).not.toHaveBeenCalled();
    expect(fake.received.map((c) => c.execute)).toEqual(['qmp_capabilities', 'query-status']);
  });

  it('keeps retrying connect() while the socket file does not exist yet', async () => {
    const socketPath = tempSocketPath();
    const client = newClient(socketPath, { connectRetryMs: 10_000 });
    const connecting = client.connect();
    await sleep(100);
    expect(client.state).toBe('connecting');
    const fake = await FakeQmp.start(socketPath);
    cleanups.push(() => fake.close());
    await connecting;
    expect(client.state).toBe('running');
  });

  it('keeps retrying connect() while a stale socket file refuses connections', async () => {
    const socketPath = tempSocketPath();
    const stale = await FakeQmp.start(`${socketPath}.old`);
    fs.linkSync(`${socketPath}.old`, socketPath); // survives the listener: connecting is refused
    await stale.close();
    const client = newClient(socketPath, { connectRetryMs: 10_000 });
    const connecting = client.connect();
    await sleep(100);
    expect(client.state).toBe('connecting');
    fs.unlinkSync(socketPath); // as QEMU does before it binds
    const fake = await FakeQmp.start(socketPath);
    cleanups.push(() => fake.close());
    await connecting;
    expect(client.state).toBe('running');
  });

  it('gives up after connectRetryMs and keeps ENOENT as the cause', async () => {
    const client = newClient(tempSocketPath(), { connectRetryMs: 100 });
    const started = Date.now();
    const err = await client.connect().catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
    expect(err).toBeInstanceOf(QmpConnectionError);
    expect((err as Error).cause).toMatchObject({ code: 'ENOENT' });
    expect(client.state).toBe('closed');
  });

  it('cancels a retrying connect() when the signal aborts', async () => {
    const controller = new AbortController();
    const client = newClient(tempSocketPath(), { connectRetryMs: 60_000, signal: controller.signal });
    const onClose = vi.fn();
    client.onClose(onClose);
    const connecting = client.connect();
    await sleep(50);
    const reason = new Error('VM start cancelled');
    controller.abort(reason);
    const err = await connecting.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpConnectionError);
    expect((err as Error).cause).toBe(reason);
    expect(client.state).toBe('closed');
    expect(onClose).toHaveBeenCalledWith(reason);
  });

  it('cancels connect() waiting for a greeting on abort, and fails at once if already aborted', async () => {
    const fake = await startFake({ greeting: false });
    const controller = new AbortController();
    const client = newClient(fake.path, { signal: controller.signal });
    const connecting = client.connect();
    await vi.waitFor(() => expect(client.state).toBe('negotiating'));
    controller.abort();
    await expect(connecting).rejects.toBeInstanceOf(QmpConnectionError);
    expect(client.state).toBe('closed');
    await fake.connClosed();

    const again = newClient(fake.path, { signal: controller.signal });
    await expect(again.connect()).rejects.toBeInstanceOf(QmpConnectionError);
    expect(again.state).toBe('closed');
  });

  it('fails connect() when no greeting arrives within the request timeout', async () => {
    const fake = await startFake({ greeting: false });
    const client = newClient(fake.path, { requestTimeoutMs: 50 });
    const err = await client.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpConnectionError);
    expect((err as Error).message).toMatch(/no QMP greeting within 50 ms/);
    expect(client.state).toBe('closed');
  });

  it('closes with a clear cause on a malformed line instead of throwing', async () => {
    const { fake, client } = await connected();
    const closed = closeCause(client);
    const pending = client.execute('query-status');
    await fake.next();
    await fake.write('{"return": oops}\n');
    await expect(pending).rejects.toBeInstanceOf(QmpConnectionError);
    const cause = await closed;
    expect(cause).toBeInstanceOf(QmpConnectionError);
    expect(cause?.message).toMatch(/malformed QMP message: \{"return": oops\}/);
    expect(cause?.cause).toBeInstanceOf(SyntaxError);
    expect(client.state).toBe('closed');
  });
});
