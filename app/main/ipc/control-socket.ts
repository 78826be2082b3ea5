/**
 * The control socket: how the CLI (and any second vmdesk process) talks to the driver that owns
 * the VMs. A unix socket in the private runtime dir (0700 dir, 0600 socket): only this user.
 *
 * Protocol, one JSON object per line:
 *   → {"id":1,"method":"vm.start","params":{"vm":"web"}}   ← {"id":1,"result":{...}} | {"id":1,"error":{code,message,details}}
 *   → {"id":2,"subscribe":true}                             ← {"id":2,"result":{}} then {"event":"vm.changed","data":{...}} ...
 *   → {"id":3,"stream":"console.serial","params":{"vm":"web"}} ← {"id":3,"result":{}} then the connection carries raw bytes both ways
 * A malformed line gets an error reply and the connection stays usable.
 */
import fs from 'node:fs';
import net from 'node:net';
import { serializeError, VmdeskError, type SerializedError } from '../common/errors.js';
import type { ContractEvents, EventName } from '../common/contract.js';
import type { Dispatcher } from './dispatcher.js';
import type { StreamOpener } from './streams.js';

/** One request line may not exceed this; longer input is refused and the connection closed. */
const MAX_LINE_BYTES = 1024 * 1024;

export interface EventSource {
  on<E extends EventName>(event: E, listener: (data: ContractEvents[E]) => void): () => void;
}

export interface ControlServer {
  close(): Promise<void>;
}

export async function listenControlSocket(socketPath: string, dispatcher: Dispatcher, events: EventSource, openStream: StreamOpener): Promise<ControlServer> {
  // We hold the owner lock, so a socket file already there belongs to a dead owner.
  fs.rmSync(socketPath, { force: true });
  const conns = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    serveConnection(sock, dispatcher, events, openStream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => { server.off('error', reject); resolve(); });
  });
  fs.chmodSync(socketPath, 0o600);
  return {
    close: () => new Promise<void>((resolve) => {
      for (const c of conns) c.destroy();
      server.close(() => resolve());
      fs.rmSync(socketPath, { force: true });
    }),
  };
}

function serveConnection(sock: net.Socket, dispatcher: Dispatcher, events: EventSource, openStream: StreamOpener): void {
  // Bytes until a whole line is there: a character split across reads is decoded only once whole,
  // and bytes after a stream request pass on untouched.
  let buf: Buffer = Buffer.alloc(0);
  const disposers: (() => void)[] = [];
  let streaming = false;
  const send = (obj: unknown) => {
    if (!sock.destroyed && sock.writable) sock.write(JSON.stringify(obj) + '\n');
  };
  const fail = (id: unknown, error: SerializedError) => send({ id: id ?? null, error });
  sock.on('error', () => {});
  sock.on('close', () => { for (const d of disposers.splice(0)) d(); });

  const startStream = (id: unknown, msg: Record<string, unknown>) => {
    // The opener may write at once (the console replays its history); those bytes must follow
    // the accept line, so they wait here until it is sent.
    let accepted = false;
    const early: (Uint8Array | { end: string })[] = [];
    const write = (chunk: Uint8Array) => { if (!sock.destroyed) sock.write(chunk); return sock.writableLength; };
    const end = (reason: string) => { if (!sock.destroyed) sock.end(`\r\n[vmdesk] ${reason}\r\n`); };
    let handle;
    try {
      handle = openStream(msg.stream, msg.params, {
        write: (chunk) => { if (accepted) return write(chunk); early.push(chunk); return 0; },
        end: (reason) => { if (accepted) end(reason); else early.push({ end: reason }); },
      });
    } catch (err) {
      return fail(id, serializeError(err));
    }
    streaming = true;
    send({ id, result: {} });
    accepted = true;
    for (const e of early) if (e instanceof Uint8Array) write(e); else end(e.end);
    disposers.push(() => handle.close());
    // From here on the connection is a raw byte pipe.
    sock.removeAllListeners('data');
    const rest = buf;
    buf = Buffer.alloc(0);
    if (rest.length > 0) handle.input(new Uint8Array(rest.buffer, rest.byteOffset, rest.byteLength));
    sock.on('data', (d: Buffer) => handle.input(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)));
  };

  const onLine = (line: string) => {
    let msg: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      msg = parsed as Record<string, unknown>;
    } catch {
      return fail(null, { code: 'invalid-argument', message: 'Each line must be one JSON object.' });
    }
    const id = typeof msg.id === 'number' || typeof msg.id === 'string' ? msg.id : null;
    if (msg.subscribe === true) {
      for (const name of ['vm.changed', 'vm.removed'] as const) {
        disposers.push(events.on(name, (data) => send({ event: name, data })));
      }
      return send({ id, result: {} });
    }
    if (msg.stream !== undefined) return startStream(id, msg);
    void dispatcher.dispatch(msg.method, msg.params).then((r) => (r.ok ? send({ id, result: r.result }) : fail(id, r.error)));
  };

  sock.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    let nl: number;
    while (!streaming && (nl = buf.indexOf(0x0a)) >= 0) {
      const line = buf.subarray(0, nl).toString('utf8');
      buf = buf.subarray(nl + 1);
      if (line.trim() !== '') onLine(line);
    }
    if (!streaming && buf.length > MAX_LINE_BYTES) {
      fail(null, new VmdeskError('invalid-argument', `A request line is longer than ${MAX_LINE_BYTES} bytes.`).toJSON());
      sock.end();
      buf = Buffer.alloc(0);
    }
  });
}
