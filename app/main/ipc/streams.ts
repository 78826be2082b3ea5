/**
 * Byte streams of the contract, independent of the transport that carries them (control socket,
 * WebSocket, Electron MessagePort).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import * as v from 'valibot';
import { isStreamName, STREAMS, type StreamName, type StreamParams } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import { describeIssues } from '../vm/definition-store.js';
import { tailLines } from '../vm/log-cap.js';
import type { VmManager } from '../vm/vm-manager.js';

/** The transport's side of a stream. */
export interface StreamSink {
  /** Bytes for the client; returns how many bytes are still queued (backpressure signal). */
  write(chunk: Uint8Array): number;
  /** The stream ended on the driver's side, with a sentence for the user. */
  end(reason: string): void;
}

/** The driver's side of a stream, given to the transport. */
export interface StreamHandle {
  /** Bytes from the client (keystrokes, RFB messages). */
  input(data: Uint8Array): void;
  close(): void;
}

export type StreamOpener = (name: unknown, params: unknown, sink: StreamSink) => StreamHandle;

/** Validates a stream request like the dispatcher validates calls. */
export function parseStreamRequest(name: unknown, params: unknown): { name: StreamName; params: StreamParams<StreamName> } {
  if (!isStreamName(name)) throw new VmdeskError('invalid-argument', `Unknown stream ${JSON.stringify(name)?.slice(0, 100)}.`);
  const parsed = v.safeParse(STREAMS[name].params, params ?? {});
  if (!parsed.success) throw new VmdeskError('invalid-argument', `Invalid arguments for ${name}: ${describeIssues(parsed.issues)}.`);
  return { name, params: parsed.output };
}

const bytes = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export function managerStreams(m: VmManager): StreamOpener {
  return (rawName, rawParams, sink) => {
    const { name, params } = parseStreamRequest(rawName, rawParams);
    switch (name) {
      case 'console.serial': {
        const hub = m.serialHub(params.vm);
        const att = hub.attach({ write: (c) => sink.write(c), close: (reason) => sink.end(reason) });
        return { input: (d) => att.input(d), close: () => att.detach() };
      }
      case 'console.vnc':
        return proxyUnixSocket(m.vncSocket(params.vm), sink);
      case 'log.tail': {
        const p = params as StreamParams<'log.tail'>;
        const paths = m.logPaths(p.vm);
        return tailLog(paths[p.which], p.lines ?? 200, sink);
      }
    }
  };
}

/**
 * VNC: one unix-socket connection to QEMU's VNC server per viewer (QEMU shares the display
 * between clients), bytes passed through untouched.
 */
export function proxyUnixSocket(socketPath: string, sink: StreamSink): StreamHandle {
  const sock = net.createConnection(socketPath);
  let closedByClient = false;
  const pending: Uint8Array[] = [];
  sock.on('connect', () => { for (const d of pending.splice(0)) sock.write(d); });
  // No pause here: a viewer that falls behind is dropped by its transport (8 MiB queued), which is
  // simpler than a pause/resume handshake across transports and rare with noVNC's compressed
  // encodings.
  sock.on('data', (d: Buffer) => { sink.write(bytes(d)); });
  sock.on('error', () => {});
  sock.on('close', () => { if (!closedByClient) sink.end('The VM stopped.'); });
  return {
    input: (d) => { if (sock.connecting) pending.push(d); else if (!sock.destroyed) sock.write(d); },
    close: () => { closedByClient = true; sock.destroy(); },
  };
}

/** The last `lines` lines, then appended bytes as they come (copy-truncate capping restarts at 0). */
function tailLog(file: string, lines: number, sink: StreamSink): StreamHandle {
  const head = tailLines(file, lines);
  if (head.length > 0) sink.write(new TextEncoder().encode(head.join('\n') + '\n'));
  let pos = size(file);
  const readNew = () => {
    const now = size(file);
    if (now < pos) pos = 0;
    if (now === pos) return;
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, 'r');
      const buf = Buffer.alloc(Math.min(now - pos, 4 * 1024 * 1024));
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      pos += n;
      sink.write(bytes(buf.subarray(0, n)));
    } catch { /* rotated away between stat and read: the next event catches up */ } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  };
  // Watch the directory: the file may not exist yet, and capping replaces its content.
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const watcher = fs.watch(path.dirname(file), { persistent: false }, (_e, f) => { if (!f || f === path.basename(file)) readNew(); });
  watcher.on('error', () => watcher.close());
  return { input: () => {}, close: () => watcher.close() };
}

function size(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
