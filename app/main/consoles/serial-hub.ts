/**
 * QEMU's socket chardev serves one client at a time, so the driver owns the one connection and
 * fans the guest's output out to any number of viewers (CLI consoles, xterm tabs, browsers).
 * Recent output is kept in a ring buffer so a viewer that opens late sees what came before.
 *
 * Bytes stay bytes: chunks are passed on as Uint8Array, never decoded.
 */
import { performance } from 'node:perf_hooks';
import net from 'node:net';

export const DEFAULT_RING_BYTES = 256 * 1024;
/** A viewer that falls this far behind is disconnected rather than slowing every other viewer. */
const MAX_VIEWER_BACKLOG = 4 * 1024 * 1024;

export interface SerialViewer {
  /** Receives guest output. Return the number of bytes still queued for this viewer (backpressure). */
  write(chunk: Uint8Array): number;
  /** The hub is closing this viewer (VM stopped, or the viewer fell too far behind). */
  close(reason: string): void;
}

export class RingBuffer {
  private buf: Uint8Array;
  private start = 0;
  private length = 0;
  constructor(readonly capacity: number) {
    this.buf = new Uint8Array(capacity);
  }
  push(chunk: Uint8Array): void {
    if (chunk.length >= this.capacity) {
      this.buf.set(chunk.subarray(chunk.length - this.capacity));
      this.start = 0;
      this.length = this.capacity;
      return;
    }
    const end = (this.start + this.length) % this.capacity;
    const first = Math.min(chunk.length, this.capacity - end);
    this.buf.set(chunk.subarray(0, first), end);
    this.buf.set(chunk.subarray(first), 0);
    const overflow = Math.max(0, this.length + chunk.length - this.capacity);
    this.length = Math.min(this.capacity, this.length + chunk.length);
    this.start = (this.start + overflow) % this.capacity;
  }
  /** A copy of the buffered bytes, oldest first. */
  snapshot(): Uint8Array {
    const out = new Uint8Array(this.length);
    const first = Math.min(this.length, this.capacity - this.start);
    out.set(this.buf.subarray(this.start, this.start + first));
    out.set(this.buf.subarray(0, this.length - first), first);
    return out;
  }
}

export class SerialHub {
  private socket?: net.Socket;
  private readonly viewers = new Set<SerialViewer>();
  private readonly ring: RingBuffer;
  private closed = false;
  /** Total bytes received from the guest (the log capper uses it to know when to look). */
  bytesReceived = 0;

  constructor(
    private readonly socketPath: string,
    private readonly opts: { ringBytes?: number; onData?: (n: number) => void; /** History from before this hub existed (the serial log's tail). */ seed?: Uint8Array } = {},
  ) {
    this.ring = new RingBuffer(opts.ringBytes ?? DEFAULT_RING_BYTES);
    if (opts.seed?.length) this.ring.push(opts.seed);
  }

  /** Connects to QEMU's serial socket; retries briefly because QEMU may still be creating it. */
  async connect(retryMs = 5000): Promise<void> {
    const deadline = performance.now() + retryMs;
    for (;;) {
      try {
        this.socket = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.createConnection(this.socketPath);
          s.once('connect', () => { s.off('error', reject); resolve(s); });
          s.once('error', reject);
        });
        break;
      } catch (err) {
        if (performance.now() > deadline || this.closed) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    if (this.closed) {
      // close() ran while we were connecting: QEMU serves one client, so do not keep the slot.
      this.socket.destroy();
      throw new Error('The console was closed while connecting.');
    }
    this.socket.on('data', (chunk: Buffer) => this.fanOut(chunk));
    this.socket.on('error', () => {});
    this.socket.on('close', () => this.close('The VM stopped.'));
  }

  private fanOut(chunk: Buffer): void {
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.bytesReceived += bytes.length;
    this.ring.push(bytes);
    this.opts.onData?.(bytes.length);
    for (const v of this.viewers) {
      if (v.write(bytes) > MAX_VIEWER_BACKLOG) {
        this.viewers.delete(v);
        v.close('This console fell too far behind the guest output and was disconnected.');
      }
    }
  }

  /** Adds a viewer; it first receives the recent history. Returns input + detach functions. */
  attach(viewer: SerialViewer, { replay = true } = {}): { input(data: Uint8Array): void; detach(): void } {
    if (this.closed) {
      viewer.close('The VM is not running.');
      return { input: () => {}, detach: () => {} };
    }
    if (replay) {
      const history = this.ring.snapshot();
      if (history.length > 0) viewer.write(history);
    }
    this.viewers.add(viewer);
    return {
      input: (data) => {
        if (this.socket && !this.socket.destroyed && this.socket.writable) this.socket.write(data);
      },
      detach: () => { this.viewers.delete(viewer); },
    };
  }

  history(): Uint8Array {
    return this.ring.snapshot();
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  close(reason = 'The console was closed.'): void {
    if (this.closed) return;
    this.closed = true;
    this.socket?.destroy();
    for (const v of this.viewers) v.close(reason);
    this.viewers.clear();
  }
}
