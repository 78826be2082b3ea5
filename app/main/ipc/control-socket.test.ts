import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ContractEvents, EventName } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import type { VmSummary } from '../common/vm-types.js';
import { ControlClient, openControlStream } from './control-client.js';
import { listenControlSocket, PUSHED_EVENTS } from './control-socket.js';

import type { ControlServer, EventSource } from './control-socket.js';
import type { CallContext, DispatchResult, Dispatcher } from './dispatcher.js';
import { SerialHub } from '../consoles/serial-hub.js';
import { FakeStream } from '../consoles/testing/fake-stream.js';
import type { StreamOpener } from './streams.js';

function summary(name: string, state: VmSummary['state'] = 'stopped'): VmSummary {
  return { id: '11111111-2222-4333-8444-555555555555', name, state, file: `/cfg/vms/${name}.json` };
}

/** Waits for a condition that only changes when something calls `changed()`. */
class Signal {
  private waiters: { until: () => boolean; resolve: () => void }[] = [];
  when(until: () => boolean): Promise<void> {
    if (until()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ until, resolve }));
  }
  changed(): void {
    this.waiters = this.waiters.filter((w) => (w.until() ? (w.resolve(), false) : true));
  }
}

/** Answers calls with `answer` (default: a VM named after params.vm) and records them. */
class FakeDispatcher implements Dispatcher {
  readonly calls: { method: unknown; params: unknown }[] = [];
  /** What the transport said about each call beside its params (same order as `calls`). */
  readonly contexts: (CallContext | undefined)[] = [];
  answer: (method: unknown, params: unknown) => Promise<DispatchResult> | DispatchResult = (_m, params) => ({
    ok: true,
    result: summary(String((params as { vm?: unknown } | undefined)?.vm ?? 'none')),
  });
  readonly signal = new Signal();
  async dispatch(method: unknown, params: unknown, ctx?: CallContext): Promise<DispatchResult> {
    this.calls.push({ method, params });
    this.contexts.push(ctx);
    this.signal.changed();
    return this.answer(method, params);
  }
}

class FakeEvents implements EventSource {
  private readonly listeners = new Map<EventName, Set<(data: unknown) => void>>();
  readonly signal = new Signal();
  on<E extends EventName>(event: E, listener: (data: ContractEvents[E]) => void): () => void {
    const set = this.listeners.get(event) ?? new Set();
    this.listeners.set(event, set);
    const l = listener as (data: unknown) => void;
    set.add(l);
    this.signal.changed();
    return () => {
      set.delete(l);
      this.signal.changed();
    };
  }
  emit<E extends EventName>(event: E, data: ContractEvents[E]): void {
    for (const l of this.listeners.get(event) ?? []) l(data);
  }
  get count(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }
}

/** Streams that echo their input back; records what was opened and closes. */
class EchoStreams {
  readonly opened: { name: unknown; params: unknown; stream: FakeStream }[] = [];
  readonly signal = new Signal();
  /** Bytes the stream has produced by the time it is opened (as a serial hub replays its history). */
  replay: Uint8Array | undefined;
  /** An error to throw instead of opening. */
  refuse: Error | undefined;
  get closed(): number {
    return this.opened.reduce((n, o) => n + o.stream.closed, 0);
  }
  readonly opener: StreamOpener = (name, params) => {
    if (this.refuse) throw this.refuse;
    const stream = new FakeStream(String(name), params, { echo: true });
    const close = stream.close.bind(stream);
    stream.close = () => {
      close();
      this.signal.changed();
    };
    this.opened.push({ name, params, stream });
    if (this.replay) stream.emit(this.replay);
    this.signal.changed();
    return stream;
  };
}

/** A raw connection that collects what the server sends. */
class RawClient {
  received = Buffer.alloc(0);
  ended = false;
  private readonly signal = new Signal();
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.received = Buffer.concat([this.received, d]);
      this.signal.changed();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      this.ended = true;
      this.signal.changed();
    });
  }
  static connect(socketPath: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(socketPath);
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }
  /** Resolves with the first `n` complete lines, parsed. */
  async lines(n: number): Promise<unknown[]> {
    const complete = () => this.received.toString('utf8').split('\n').slice(0, -1);
    await this.signal.when(() => complete().length >= n || this.ended);
    return complete()
      .slice(0, n)
      .map((l) => JSON.parse(l) as unknown);
  }
  async bytes(n: number): Promise<Buffer> {
    await this.signal.when(() => this.received.length >= n || this.ended);
    return this.received.subarray(0, n);
  }
  closed(): Promise<void> {
    return this.signal.when(() => this.ended);
  }
}

/** Resolves once `sock` has received `n` bytes (or closed); the socket must be flowing. */
function collect(sock: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const done = () => resolve(got);
    sock.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= n) done();
    });
    sock.once('close', done);
  });
}

let dir: string;
let socketPath: string;
let dispatcher: FakeDispatcher;
let events: FakeEvents;
let streams: EchoStreams;
let server: ControlServer;
const clients: { close(): void }[] = [];

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-ctl-'));
  socketPath = path.join(dir, 'control.sock');
  dispatcher = new FakeDispatcher();
  events = new FakeEvents();
  streams = new EchoStreams();
  server = await listenControlSocket(socketPath, dispatcher, events, streams.opener);
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function client(): Promise<ControlClient> {
  const c = await ControlClient.connect(socketPath);
  clients.push(c);
  return c;
}
async function raw(): Promise<RawClient> {
  const c = await RawClient.connect(socketPath);
  clients.push({ close: () => c.sock.destroy() });
  return c;
}
async function stream(params: { vm: string }): Promise<net.Socket> {
  const s = await openControlStream(socketPath, 'console.serial', params);
  clients.push({ close: () => s.destroy() });
  return s;
}

describe('listenControlSocket', () => {
  it('creates the socket readable and writable by the user only (0600)', () => {
    const st = fs.statSync(socketPath);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  it('replaces a stale file left at the socket path', async () => {
    await server.close();
    fs.writeFileSync(socketPath, 'left by a dead owner');
    server = await listenControlSocket(socketPath, dispatcher, events, streams.opener);
    expect(fs.statSync(socketPath).isSocket()).toBe(true);
  });

  it('removes the socket file when it closes', async () => {
    await server.close();
    expect(fs.existsSync(socketPath)).toBe(false);
    server = await listenControlSocket(socketPath, dispatcher, events, streams.opener);
  });

  it('answers a malformed line with an error and goes on serving the same connection', async () => {
    const c = await raw();
    c.sock.write('this is not json\n');
    c.sock.write('[1,2]\n');
    c.sock.write('{"id":7,"method":"vm.get","params":{"vm":"web"}}\n');
    const [bad, array, good] = await c.lines(3);
    expect(bad).toEqual({
      id: null,
      error: { code: 'invalid-argument', message: 'Each line must be one JSON object.' },
    });
    expect(array).toMatchObject({ id: null, error: { code: 'invalid-argument' } });
    expect(good).toEqual({ id: 7, result: summary('web') });
  });

  it('ignores blank lines and reassembles a request split across writes', async () => {
    const c = await raw();
    c.sock.write('\n  \n{"id":"a","meth');
    c.sock.write('od":"vm.list"}\n');
    expect(await c.lines(1)).toEqual([{ id: 'a', result: summary('none') }]);
    expect(dispatcher.calls).toEqual([{ method: 'vm.list', params: undefined }]);
  });

  it('refuses a request line longer than 1 MiB and closes the connection', async () => {
    const c = await raw();
    c.sock.write('x'.repeat(1024 * 1024 + 1));
    const [reply] = await c.lines(1);
    expect(reply).toMatchObject({ id: null, error: { code: 'invalid-argument' } });
    await c.closed();
    expect(dispatcher.calls).toEqual([]);
  });

  // Was a bug (fixed): control-socket.ts serveConnection decodes each chunk on its own
  // (`buf += chunk.toString('utf8')`), so a UTF-8 character split between two reads (reads are
  // 64 KiB) turns into two U+FFFD. Here "é" straddles byte 65536 of one request line.
  it('keeps a UTF-8 character that straddles two reads of a long request line intact', async () => {
    const c = await raw();
    const head = '{"id":1,"method":"vm.get",';
    const tail = '"params":{"vm":"';
    const pad = ' '.repeat(65535 - Buffer.byteLength(head + tail));
    const line = `${head}${pad}${tail}é"}}\n`;
    expect(Buffer.from(line).indexOf(Buffer.from('é'))).toBe(65535);
    c.sock.write(line);
    await c.lines(1);
    expect(dispatcher.calls[0]?.params).toEqual({ vm: 'é' });
  });
});

describe('ControlClient over the control socket', () => {
  it('round-trips a call', async () => {
    const c = await client();
    expect(await c.call('vm.get', { vm: 'web' })).toEqual(summary('web'));
    expect(dispatcher.calls).toEqual([{ method: 'vm.get', params: { vm: 'web' } }]);
  });

  it('matches replies to calls by id when they finish out of order', async () => {
    let releaseSlow!: () => void;
    const slowDone = new Promise<void>((r) => (releaseSlow = r));
    dispatcher.answer = async (_m, params) => {
      const vm = (params as { vm: string }).vm;
      if (vm === 'slow') await slowDone;
      return { ok: true, result: summary(vm) };
    };
    const c = await client();
    const slow = c.call('vm.get', { vm: 'slow' });
    const fast = await c.call('vm.get', { vm: 'fast' });
    expect(fast.name).toBe('fast');
    releaseSlow();
    expect((await slow).name).toBe('slow');
  });

  it('rebuilds an error reply as a VmdeskError with its code, message and details', async () => {
    dispatcher.answer = () => ({
      ok: false,
      error: { code: 'not-found', message: 'No VM named "x".', details: { field: 'vm' } },
    });
    const c = await client();
    const err = await c.call('vm.get', { vm: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmdeskError);
    expect(err).toMatchObject({ code: 'not-found', message: 'No VM named "x".', details: { field: 'vm' } });
  });

  it('pushes events to a subscribed client', async () => {
    const c = await client();
    const got: { name: EventName; data: unknown }[] = [];
    const signal = new Signal();
    await c.subscribe((name, data) => {
      got.push({ name, data });
      signal.changed();
    });
    events.emit('vm.changed', summary('web', 'running'));
    events.emit('vm.removed', { id: 'gone' });
    const progress = { jobId: 'j1', vm: 'web', what: 'Copying vda (disk0.qcow2)', doneBytes: 5, totalBytes: 10 };
    events.emit('job.progress', progress);
    await signal.when(() => got.length === 3);
    expect(got).toEqual([
      { name: 'vm.changed', data: summary('web', 'running') },
      { name: 'vm.removed', data: { id: 'gone' } },
      { name: 'job.progress', data: progress },
    ]);
  });

  it("aborts the signal of a client's running calls when it goes away (a clone it started stops)", async () => {
    dispatcher.answer = () => new Promise<DispatchResult>(() => {});
    const c = await raw();
    c.sock.write('{"id":1,"method":"vm.clone","params":{"vm":"a","name":"b"}}\n');
    await dispatcher.signal.when(() => dispatcher.calls.length === 1);
    const signal = dispatcher.contexts[0]!.signal!;
    expect(signal.aborted).toBe(false);
    c.sock.destroy();
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    expect(signal.aborted).toBe(true);
  });

  it('sends no events to a client that did not subscribe', async () => {
    const listener = await client();
    const quiet = await raw();
    const got: unknown[] = [];
    const signal = new Signal();
    await listener.subscribe((_n, data) => {
      got.push(data);
      signal.changed();
    });
    events.emit('vm.removed', { id: 'gone' });
    await signal.when(() => got.length === 1);
    // The quiet client's next reply is the first thing it receives.
    quiet.sock.write('{"id":1,"method":"vm.list"}\n');
    expect(await quiet.lines(1)).toEqual([{ id: 1, result: summary('none') }]);
  });

  it('unsubscribes on the driver side when the client goes away', async () => {
    const c = await client();
    await c.subscribe(() => {});
    // One listener per pushed event (vm.changed, vm.removed, job.progress, snapshot.changed,
    // host.connectionChanged).
    expect(events.count).toBe(PUSHED_EVENTS.length);
    expect(events.count).toBe(5);
    c.close();
    await events.signal.when(() => events.count === 0);
  });

  it('fails pending and later calls when the driver goes away', async () => {
    dispatcher.answer = () => new Promise<DispatchResult>(() => {});
    const c = await client();
    const pending = c.call('vm.start', { vm: 'web' });
    await server.close();
    await expect(pending).rejects.toMatchObject({
      code: 'internal',
      message: expect.stringMatching(/closed the connection/),
    });
    await expect(c.call('vm.list', {})).rejects.toMatchObject({ code: 'internal' });
    server = await listenControlSocket(socketPath, dispatcher, events, streams.opener);
  });

  it('sends a first call that changes nothing with the hello, and answers it from that one request', async () => {
    const c = await ControlClient.connect(socketPath, 3000, { method: 'vm.get', params: { vm: 'web' } });
    clients.push(c);
    expect(await c.call('vm.get', { vm: 'web' })).toEqual(summary('web'));
    expect(dispatcher.calls).toEqual([{ method: 'vm.get', params: { vm: 'web' } }]);
    // Asked again: a new request (the early answer is used once).
    expect(await c.call('vm.get', { vm: 'web' })).toEqual(summary('web'));
    expect(dispatcher.calls).toHaveLength(2);
  });

  it('does not answer a different call with the early one', async () => {
    const c = await ControlClient.connect(socketPath, 3000, { method: 'vm.get', params: { vm: 'web' } });
    clients.push(c);
    expect(await c.call('vm.get', { vm: 'db' })).toEqual(summary('db'));
    await dispatcher.signal.when(() => dispatcher.calls.length === 2);
    expect(dispatcher.calls.map((x) => x.params)).toEqual([{ vm: 'web' }, { vm: 'db' }]);
  });

  it('keeps the early answer for the first call only: the same call later asks anew', async () => {
    const c = await ControlClient.connect(socketPath, 3000, { method: 'vm.get', params: { vm: 'web' } });
    clients.push(c);
    await dispatcher.signal.when(() => dispatcher.calls.length === 1);
    // What the driver says from now on (a start in between, say) is what a later vm.get hears.
    dispatcher.answer = () => ({ ok: true, result: { ...summary('web'), state: 'running' } });
    expect(await c.call('vm.list', {})).toMatchObject({ state: 'running' });
    expect(await c.call('vm.get', { vm: 'web' })).toMatchObject({ state: 'running' });
    expect(dispatcher.calls.map((x) => x.method)).toEqual(['vm.get', 'vm.list', 'vm.get']);
  });

  // Was a bug (fixed): control-client.ts ControlClient.onData decodes each chunk on its own
  // (`this.buf += chunk.toString('utf8')`): a reply over 64 KiB (vm.list with many VMs) with a
  // non-ASCII character across a read boundary comes back with U+FFFD in it.
  it('keeps a UTF-8 character that straddles two reads of a long reply intact', async () => {
    const head = '{"id":1,"result":[{"id":"11111111-2222-4333-8444-555555555555","name":"';
    const name = 'a'.repeat(65535 - Buffer.byteLength(head)) + 'é';
    dispatcher.answer = () => ({ ok: true, result: [summary(name)] });
    const c = await client();
    const [vm] = await c.call('vm.list', {});
    expect(vm?.name).toBe(name);
  });
});

describe('openControlStream', () => {
  it('turns the connection into a byte pipe both ways', async () => {
    const s = await stream({ vm: 'web' });
    expect(streams.opened).toEqual([{ name: 'console.serial', params: { vm: 'web' }, stream: expect.anything() }]);
    const echoed = collect(s, 6);
    s.resume();
    s.write(new Uint8Array([0x00, 0xff, 0x0a, 0x1b, 0x7b, 0x0a]));
    expect(new Uint8Array(await echoed)).toEqual(new Uint8Array([0x00, 0xff, 0x0a, 0x1b, 0x7b, 0x0a]));
    // JSON-looking input is bytes for the guest now, not a request.
    expect(dispatcher.calls).toEqual([]);
  });

  it('resolves paused, so nothing sent right after the reply is lost', async () => {
    const s = await stream({ vm: 'web' });
    expect(s.isPaused()).toBe(true);
    streams.opened[0]!.stream.emit(new Uint8Array(Buffer.from('guest output')));
    const got = collect(s, 'guest output'.length);
    s.resume();
    expect((await got).toString()).toBe('guest output');
  });

  it('passes the driver side ending the stream on as a last line and an end', async () => {
    const s = await stream({ vm: 'web' });
    const rest = collect(s, Number.POSITIVE_INFINITY);
    s.resume();
    streams.opened[0]!.stream.end('The VM stopped.');
    expect((await rest).toString()).toBe('\r\n[vmdesk] The VM stopped.\r\n');
  });

  it('closes the driver side when the client goes away', async () => {
    const s = await stream({ vm: 'web' });
    s.destroy();
    await streams.signal.when(() => streams.closed === 1);
  });

  it("rejects with the opener's VmdeskError", async () => {
    streams.refuse = new VmdeskError('invalid-state', 'The VM "web" is not running.', { vm: 'web' });
    const err = await openControlStream(socketPath, 'console.serial', { vm: 'web' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmdeskError);
    expect(err).toMatchObject({
      code: 'invalid-state',
      message: 'The VM "web" is not running.',
      details: { vm: 'web' },
    });
  });

  it('rejects with internal when the opener fails unexpectedly', async () => {
    streams.refuse = new Error('boom');
    await expect(openControlStream(socketPath, 'console.serial', { vm: 'web' })).rejects.toMatchObject({
      code: 'internal',
      message: 'boom',
    });
  });

  // Was a bug (fixed): control-socket.ts serveConnection calls openStream() before sending the accept line;
  // an opener that writes at once (managerStreams: SerialHub.attach replays the history through
  // sink.write) puts raw guest bytes on the wire ahead of {"id":..,"result":{}}, and
  // openControlStream then JSON.parses guest output (and throws inside its 'data' handler).
  it('sends the accept line before any byte the opener writes while opening', async () => {
    streams.replay = new Uint8Array(Buffer.from('login: '));
    const c = await raw();
    c.sock.write('{"id":3,"stream":"console.serial","params":{"vm":"web"}}\n');
    const accept = '{"id":3,"result":{}}\n';
    const got = await c.bytes(accept.length + 'login: '.length);
    expect(got.toString()).toBe(accept + 'login: ');
  });

  // Was a bug (fixed): control-socket.ts serveConnection passes bytes that arrived with the stream request
  // through a UTF-8 string (`buf` then `Buffer.from(buf, 'utf8')`), so non-UTF-8 input sent in
  // the same write as the request reaches the guest as U+FFFD (ef bf bd).
  it('passes bytes sent in the same write as the stream request on unchanged', async () => {
    const c = await raw();
    const request = Buffer.from('{"id":3,"stream":"console.serial","params":{"vm":"web"}}\n');
    c.sock.write(Buffer.concat([request, Buffer.from([0xff, 0xfe])]));
    const accept = '{"id":3,"result":{}}\n';
    const got = await c.bytes(accept.length + 2);
    expect([...got.subarray(accept.length)]).toEqual([0xff, 0xfe]);
  });
});

describe('backpressure on the control socket', () => {
  const settle = async (count: () => number) => {
    let last = -1;
    while (count() !== last) {
      last = count();
      await new Promise((r) => setTimeout(r, 150));
    }
    return last;
  };

  it('stops reading the requests of a client that does not read its replies, and answers them all once it does', async () => {
    const big = 'x'.repeat(100 * 1024);
    dispatcher.answer = (_m, params) => ({ ok: true, result: { vm: (params as { vm: string }).vm, big } });
    const sock = net.createConnection(socketPath);
    clients.push({ close: () => sock.destroy() });
    sock.pause();
    const c = { sock };
    let lines = '';
    for (let id = 1; id <= 1500; id++)
      lines += JSON.stringify({ id, method: 'vm.get', params: { vm: `v${id}` } }) + '\n';
    c.sock.write(lines);
    // 150 MB of replies if every call ran: the driver runs only what fits its reply budget.
    const ran = await settle(() => dispatcher.calls.length);
    expect(ran).toBeGreaterThan(0);
    expect(ran).toBeLessThan(100);
    const ids: number[] = [];
    let rest = '';
    c.sock.setEncoding('utf8');
    c.sock.on('data', (d: string) => {
      rest += d;
      let nl: number;
      while ((nl = rest.indexOf('\n')) >= 0) {
        ids.push((JSON.parse(rest.slice(0, nl)) as { id: number }).id);
        rest = rest.slice(nl + 1);
      }
    });
    c.sock.resume();
    await vi.waitFor(() => expect(ids).toHaveLength(1500), { timeout: 15_000 });
    expect(new Set(ids).size).toBe(1500);
  });

  it('runs nothing more for a client that went away with calls waiting', async () => {
    dispatcher.answer = () => ({ ok: true, result: 'y'.repeat(200 * 1024) });
    const c = await raw();
    c.sock.pause();
    let lines = '';
    for (let id = 1; id <= 500; id++) lines += JSON.stringify({ id, method: 'vm.list' }) + '\n';
    c.sock.write(lines);
    const ran = await settle(() => dispatcher.calls.length);
    c.sock.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(dispatcher.calls.length).toBe(ran);
    // The server still serves others.
    dispatcher.answer = () => ({ ok: true, result: summary('other') });
    expect(await (await client()).call('vm.get', { vm: 'other' })).toMatchObject({ name: 'other' });
  });

  it('disconnects a subscribed client that reads nothing once its events pass the hard limit', async () => {
    const c = await raw();
    c.sock.write('{"id":1,"subscribe":true}\n');
    await c.lines(1);
    c.sock.pause();
    const fat = summary('x'.repeat(60 * 1024));
    for (let i = 0; i < 2000 && !c.ended; i++) {
      events.emit('vm.changed', fat);
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    c.sock.resume();
    await c.closed();
    expect(events.count).toBe(0);
  });

  it("stops reading a stream client's input while the stream takes no more, and passes all of it on at the drain", async () => {
    const s = await stream({ vm: 'web' });
    let echoed = 0;
    s.on('data', (d: Buffer) => (echoed += d.length));
    s.resume();
    const fake = streams.opened[0]!.stream;
    fake.inputFull = true;
    // `cat bigfile | vmdesk console vm` into a paused guest.
    const total = 16 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let n = 0; n < total; n += chunk.length) s.write(chunk);
    await settle(() => s.writableLength);
    // The driver took what its input channel holds (1 MiB) and the kernel's buffers; the rest
    // waits in the client. Before the fix the driver read (and buffered) all 16 MiB.
    expect(fake.writtenBytes).toBeLessThanOrEqual(chunk.length);
    expect(s.writableLength).toBeGreaterThan(total - 4 * 1024 * 1024);
    fake.drainInput();
    await vi.waitFor(() => expect(fake.writtenBytes).toBe(total), { timeout: 15_000 });
    await vi.waitFor(() => expect(echoed).toBe(total), { timeout: 15_000 });
  });

  it('ends the connection with the reason when a stream throws on input', async () => {
    const c = await raw();
    c.sock.write('{"id":1,"stream":"console.serial","params":{"vm":"web"}}\n');
    await c.lines(1);
    streams.opened[0]!.stream.input = () => {
      throw new Error('The console input failed.');
    };
    c.sock.write('x');
    await c.closed();
    expect(c.received.toString('latin1').endsWith('\r\n[vmdesk] The console input failed.\r\n')).toBe(true);
  });

  it('holds console input in the client, not the driver, while QEMU does not read it (a real serial hub)', async () => {
    // QEMU's serial socket, not reading (a paused guest: the UART takes nothing).
    const serialPath = path.join(dir, 'serial.sock');
    let qemuConn: net.Socket | undefined;
    let qemuGot = 0;
    const qemu = net.createServer((c) => {
      qemuConn = c;
      c.pause();
      c.on('data', (d: Buffer) => (qemuGot += d.length));
    });
    await new Promise<void>((r) => qemu.listen(serialPath, r));
    const hub = new SerialHub(serialPath);
    await hub.connect();
    const ctlPath = path.join(dir, 'hub.sock');
    const ctl = await listenControlSocket(ctlPath, dispatcher, events, () => hub.open());
    try {
      const s = await openControlStream(ctlPath, 'console.serial', { vm: 'web' });
      clients.push({ close: () => s.destroy() });
      s.resume();
      const total = 16 * 1024 * 1024;
      const chunk = Buffer.alloc(64 * 1024, 0x62);
      for (let n = 0; n < total; n += chunk.length) s.write(chunk);
      await settle(() => s.writableLength);
      expect(s.writableLength).toBeGreaterThan(total - 4 * 1024 * 1024);
      qemuConn!.resume();
      await vi.waitFor(() => expect(qemuGot).toBe(total), { timeout: 15_000 });
    } finally {
      hub.close();
      await ctl.close();
      await new Promise((r) => qemu.close(r));
    }
  });

  it('drops a console viewer that does not read, with the reason as its last line; a reading viewer keeps its output', async () => {
    const slow = await RawClient.connect(socketPath);
    clients.push({ close: () => slow.sock.destroy() });
    slow.sock.write('{"id":1,"stream":"console.serial","params":{"vm":"web"}}\n');
    await streams.signal.when(() => streams.opened.length === 1);
    slow.sock.pause();
    const fast = await stream({ vm: 'web' });
    let fastGot = 0;
    fast.on('data', (d: Buffer) => {
      fastGot += d.length;
    });
    fast.resume();
    const [a, b] = [streams.opened[0]!.stream, streams.opened[1]!.stream];
    // 9-byte chunks, as QEMU's serial chardev delivers them, to both viewers.
    const chunk = new Uint8Array(Buffer.from('cpuinfo\r\n'));
    let sent = 0;
    for (let i = 0; i < 400_000 && a.output.isOpen; i++) {
      a.emit(chunk);
      b.emit(chunk);
      sent += 9;
      expect(a.output.memoryBytes).toBeLessThanOrEqual(1024 * 1024);
      if (i % 500 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(a.output.isOpen).toBe(false);
    await vi.waitFor(() => expect(fastGot).toBe(sent));
    slow.sock.resume();
    await slow.closed();
    expect(
      slow.received
        .toString('latin1')
        .endsWith('\r\n[vmdesk] The viewer fell too far behind and was disconnected.\r\n'),
    ).toBe(true);
  });
});
