/**
 * QEMU's socket chardev serves one client at a time, so the driver owns the one connection and
 * fans the guest's output out to any number of viewers (CLI consoles, xterm tabs, browsers).
 * Recent output is kept in a ring buffer so a viewer that opens late sees what came before.
 *
 * Each viewer reads through its own ByteChannel (byte-channel.ts) with the `drop` policy: the
 * guest's serial output is never paused for one slow viewer (that would stall the console of
 * every other viewer, and the guest itself once QEMU's buffer fills), so a viewer whose queue
 * outgrows its memory budget is disconnected with a reason while the others keep reading.
 *
 * Input goes the other way onto the same connection, which QEMU stops reading while the guest's
 * UART takes no bytes (a paused VM): a viewer's `input` returns false once the socket is full
 * and its `onInputDrain` listener runs at the socket's 'drain', so the transports hold the
 * client's keystrokes (and, past their budget, stop reading them) instead of the driver.
 *
 * Bytes stay bytes: chunks are passed on as Uint8Array, never decoded.
 *
 * A guest that floods its UART reaches the driver a few bytes at a time: QEMU writes each byte
 * the guest sends to the socket on its own, so the hub reads ~9-byte chunks, and every chunk
 * used to cost the fan-out and a write to every viewer, then a read and a WebSocket frame in
 * `vmdesk web` and a message in the page: ~28,000 of each per second at 250 kB/s, most of a core
 * spread over the driver and the viewers, which a TCG guest on a 2-core machine then lacks
 * (issue 22). So output that follows other output within OUTPUT_COALESCE_MS is held and given
 * to the viewers as one chunk when that time is up. The first output after a quiet spell (a
 * keystroke's echo) still goes out at once, and so does a large read (bulk output).
 *
 * The hub still reads as soon as bytes are there: the kernel charges a unix socket's sender a
 * whole buffer (~1 KiB) per write, so QEMU's one-byte writes fill its socket after a few hundred
 * bytes, and a reader that let them wait there would throttle the guest (measured: a 2 ms pause
 * after each read capped a 250 kB/s flood at ~100 kB/s).
 */
import { performance } from 'node:perf_hooks';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ByteChannel, STREAM_BUDGET_BYTES, type ByteStream } from './byte-channel.js';

export const DEFAULT_RING_BYTES = 256 * 1024;
/** How long output that follows other output closely is held (see above): what the hub adds, at
 * most, to its latency. */
export const OUTPUT_COALESCE_MS = 2;
/** What the hub holds at most: more is given to the viewers at once, and so is a read at least
 * this large (output faster than this per OUTPUT_COALESCE_MS, 2 MB/s, is never held up). */
export const OUTPUT_COALESCE_BYTES = 4096;
/** What one read of QEMU's socket may take: a UART gives far less between two reads, and each hub
 * keeps this much for as long as its VM runs. */
const READ_BUFFER_BYTES = 16 * 1024;
/** What a viewer whose queue passed its budget (STREAM_BUDGET_BYTES by default, counted as
 * memory, so it holds with QEMU's ~9-byte chunks) is told as it is disconnected. */
export const FELL_BEHIND = 'This console fell too far behind the guest output and was disconnected.';

export interface SerialViewer {
  /** Receives guest output. Return false when full; then call the attachment's `resume()` once
   * drained (until then the hub queues for this viewer, within its budget). */
  write(chunk: Uint8Array): boolean | void;
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
  private socket?: Duplex;
  private readonly viewers = new Set<ByteChannel>();
  /** The drain listeners of viewers whose input found the socket full. */
  private readonly inputWaiters = new Set<() => void>();
  private readonly ring: RingBuffer;
  private closed = false;
  /** Open for OUTPUT_COALESCE_MS after output was given to the viewers: output read meanwhile is
   * held, in `held`, until it closes. */
  private window: NodeJS.Timeout | undefined;
  private readonly held = new Uint8Array(OUTPUT_COALESCE_BYTES);
  private heldBytes = 0;
  /** Total bytes received from the guest (the log capper uses it to know when to look). */
  bytesReceived = 0;

  /** `source`: QEMU's serial socket path, or what opens another byte source (libvirt's console). */
  constructor(
    private readonly source: string | (() => Promise<Duplex>),
    private readonly opts: {
      ringBytes?: number;
      onData?: (n: number) => void;
      /** History from before this hub existed (the serial log's tail). */ seed?: Uint8Array;
      /** Per-viewer queue budget (memory bytes). */ viewerBudgetBytes?: number;
      /** A viewer was disconnected for falling behind (the VM's log says so: the viewer itself
       * learns why only once it reads again, behind everything the kernel still holds for it). */
      onViewerDropped?: () => void;
    } = {},
  ) {
    this.ring = new RingBuffer(opts.ringBytes ?? DEFAULT_RING_BYTES);
    if (opts.seed?.length) this.ring.push(opts.seed);
  }

  /** Connects to QEMU's serial socket; retries briefly because QEMU may still be creating it. */
  async connect(retryMs = 5000): Promise<void> {
    const deadline = performance.now() + retryMs;
    for (;;) {
      try {
        const source = this.source;
        this.socket = await new Promise<Duplex>((resolve, reject) => {
          if (typeof source !== 'string') return source().then(resolve, reject);
          // `onread`: every read into one buffer (Node allocates 64 KiB for each read otherwise).
          const s = net.createConnection({
            path: source,
            onread: {
              buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
              // The buffer is read into again: the fan-out gets a copy it may keep.
              callback: (n, buf) => {
                this.onRead(buf.subarray(0, n), false);
                return true;
              },
            },
          });
          s.once('connect', () => {
            s.off('error', reject);
            resolve(s);
          });
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
    // A socket made here delivers through `onread`; another source (libvirt's console) by events.
    if (typeof this.source !== 'string') this.socket.on('data', (chunk: Buffer) => this.onRead(chunk, true));
    this.socket.on('drain', () => {
      const waiting = [...this.inputWaiters];
      this.inputWaiters.clear();
      for (const w of waiting) w();
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => this.close('The VM stopped.'));
  }

  /** `owned`: the hub may keep `chunk` (otherwise its memory is read into again). */
  private onRead(chunk: Uint8Array, owned: boolean): void {
    if (this.closed) return;
    this.bytesReceived += chunk.byteLength;
    this.opts.onData?.(chunk.byteLength);
    const own = () => (owned ? chunk : new Uint8Array(chunk));
    if (!this.window) {
      this.fanOut(own());
      this.openWindow();
      return;
    }
    if (this.heldBytes + chunk.byteLength > OUTPUT_COALESCE_BYTES) this.giveHeld();
    if (chunk.byteLength >= OUTPUT_COALESCE_BYTES) return this.fanOut(own());
    this.held.set(chunk, this.heldBytes);
    this.heldBytes += chunk.byteLength;
  }

  /** Holds the output of the next OUTPUT_COALESCE_MS; then gives it, and holds on while it comes. */
  private openWindow(): void {
    this.window = setTimeout(() => {
      this.window = undefined;
      if (this.heldBytes === 0) return;
      this.giveHeld();
      this.openWindow();
    }, OUTPUT_COALESCE_MS);
  }

  private giveHeld(): void {
    if (this.heldBytes === 0) return;
    const out = this.held.slice(0, this.heldBytes);
    this.heldBytes = 0;
    this.fanOut(out);
  }

  /** `chunk` is the viewers' to keep. */
  private fanOut(chunk: Uint8Array): void {
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.ring.push(bytes);
    // A viewer over its budget drops itself (onDrop) while we iterate: Set iteration allows it.
    for (const v of this.viewers) v.push(bytes);
  }

  /**
   * A viewer as a stream: its output holds the recent history (unless `replay: false`), then
   * live output, until the transport attaches its reader. Closing it detaches the viewer.
   */
  open({ replay = true } = {}): ByteStream {
    const output = new ByteChannel({
      budgetBytes: Math.max(this.opts.viewerBudgetBytes ?? STREAM_BUDGET_BYTES, 2 * this.ring.capacity),
      overflow: { kind: 'drop' },
      dropReason: FELL_BEHIND,
      onDrop: () => {
        this.viewers.delete(output);
        this.opts.onViewerDropped?.();
      },
    });
    if (this.closed) {
      output.end('The VM is not running.');
      return { output, input: () => {}, close: () => output.dispose() };
    }
    if (replay) {
      const history = this.ring.snapshot();
      if (history.length > 0) output.push(history);
    }
    this.viewers.add(output);
    let onDrain: (() => void) | undefined;
    const drained = () => onDrain?.();
    return {
      output,
      input: (data) => {
        const s = this.socket;
        // Nowhere to go (the VM stopped; the viewer is being ended): the bytes are discarded.
        if (!s || s.destroyed || !s.writable) return true;
        if (s.write(data)) return true;
        this.inputWaiters.add(drained);
        return false;
      },
      onInputDrain: (listener) => {
        onDrain = listener;
      },
      close: () => {
        this.viewers.delete(output);
        this.inputWaiters.delete(drained);
        output.dispose();
      },
    };
  }

  /** Adds a viewer that reads at once; it first receives the recent history. */
  attach(
    viewer: SerialViewer,
    { replay = true } = {},
  ): { input(data: Uint8Array): boolean; onInputDrain(listener: () => void): void; detach(): void; resume(): void } {
    const stream = this.open({ replay });
    stream.output.attach({ write: (c) => viewer.write(c) !== false, end: (reason) => viewer.close(reason) });
    return {
      input: (d) => stream.input(d) !== false,
      onInputDrain: (l) => stream.onInputDrain?.(l),
      detach: () => stream.close(),
      resume: () => stream.output.resume(),
    };
  }

  history(): Uint8Array {
    return this.ring.snapshot();
  }

  /** Closed: the VM stopped or the console was closed; a new hub is needed for the next viewer. */
  get isClosed(): boolean {
    return this.closed;
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** Ends every viewer with `reason`, after the output already queued for it. */
  close(reason = 'The console was closed.'): void {
    if (this.closed) return;
    // The guest's last words first.
    this.giveHeld();
    clearTimeout(this.window);
    this.closed = true;
    this.inputWaiters.clear();
    this.socket?.destroy();
    for (const v of this.viewers) v.end(reason);
    this.viewers.clear();
  }
}
