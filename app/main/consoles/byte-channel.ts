/**
 * The one byte channel under every stream (serial console, VNC proxy, log tail) and every
 * transport (control socket, WebSocket, Electron MessagePort): a queue from one producer to one
 * reader that
 *  - holds bytes until the reader registers (`attach`), and while the reader says it is full;
 *  - counts what it holds as memory, not as payload: QEMU's serial chardev hands the driver
 *    chunks of ~9 bytes, and a queue of 9-byte Buffers costs ~200 bytes of heap per chunk, which
 *    is how payload caps of a few MiB let one non-reading viewer grow the driver by 460 MiB
 *    (issue 13). Small chunks are copied into shared blocks (coalesced); each block costs its
 *    whole allocation plus CHUNK_OVERHEAD_BYTES;
 *  - past its budget, applies the stream's policy: `pause` the producer (QEMU's VNC socket, a log
 *    file reader, a client's requests or console input) until the queue is back under half the
 *    budget, or `drop` the reader with a sentence saying why (a serial viewer: the other viewers
 *    of the same guest must keep getting output, so the guest's one serial connection is never
 *    paused for one).
 *
 * Readers signal "full" the way Node's writable streams do: `write` returns false (having taken
 * the chunk), and the owner of the reader calls `resume()` once it drained. Each reader decides
 * what full means for its transport, counting its own per-message overhead (see web-server.ts
 * and shell/driver-bridge.ts), so the bytes held between producer and kernel stay bounded end
 * to end.
 */

/** What one queued block costs besides its bytes: the typed-array object, its backing-store
 * bookkeeping in V8 and the queue's slot (measured: ~200 bytes per small Buffer). */
export const CHUNK_OVERHEAD_BYTES = 256;
/** Small chunks are packed into blocks of this size. */
export const BLOCK_BYTES = 16 * 1024;
/**
 * What one stream's queue may hold (memory bytes) unless it has a reason to differ: a full
 * replay of the serial console's history and seconds of a flooding guest, dozens of VNC
 * framebuffer updates, far more than a terminal ever lags by.
 */
export const STREAM_BUDGET_BYTES = 1024 * 1024;

export interface ByteReader {
  /**
   * One chunk for the reader, which MUST NOT modify it (several readers may share it). Return
   * false when full: the chunk is taken, and the channel holds further bytes until `resume()`.
   */
  write(chunk: Uint8Array): boolean;
  /**
   * Called once, last: the producer ended (`how: 'ended'`, after every queued byte) or the
   * channel gave up on this reader (`'dropped'`, queued bytes discarded). `reason` is a sentence
   * for the user ("The VM stopped.").
   */
  end(reason: string, how: 'ended' | 'dropped'): void;
}

/** A producer that can stop: a socket (net.Socket has both), a file reader, a request parser. */
export interface ByteSource {
  pause(): void;
  resume(): void;
}

export type OverflowPolicy =
  /** Stop the source until the queue is back under half the budget. A source that cannot stop at
   * once (replies already being computed, events) may overshoot; past `hardLimitBytes` (default
   * 8 × budget) the reader is dropped all the same. */
  | { kind: 'pause'; source: ByteSource; hardLimitBytes?: number }
  /** Give up on the reader: discard the queue and end it with `dropReason`. */
  | { kind: 'drop' };

export interface ByteChannelOptions {
  /** Memory (bytes, per-block overhead included) the queue may hold before the policy acts. */
  budgetBytes: number;
  overflow: OverflowPolicy;
  /** The sentence a dropped reader gets. */
  dropReason?: string;
  /** Called once when the channel drops its reader (over budget, or `drop()`), so the producer
   * can forget it (the serial hub removes the viewer). Not called by `dispose()` or `end()`. */
  onDrop?(reason: string): void;
}

type State = 'open' | 'ending' | 'closed';

const DEFAULT_DROP_REASON = 'The viewer fell too far behind and was disconnected.';

export class ByteChannel {
  /** Finished entries, oldest first: blocks (possibly partly filled) and large chunks. */
  private readonly queue: Uint8Array[] = [];
  /** The block being filled, after every entry of `queue`. */
  private tail: Uint8Array | undefined;
  private tailUsed = 0;
  private queued = 0;
  private memory = 0;
  private reader: ByteReader | undefined;
  private blocked = false;
  private flushing = false;
  private state: State = 'open';
  /** Why the reader ended or will end; set by end() or a drop. */
  private endReason: string | undefined;
  private endHow: 'ended' | 'dropped' = 'ended';
  private readerEnded = false;
  private sourcePaused = false;

  constructor(private readonly opts: ByteChannelOptions) {
    if (!(opts.budgetBytes > 0)) throw new RangeError('A byte channel needs a positive budget.');
  }

  /** Payload bytes waiting for the reader. */
  get queuedBytes(): number {
    return this.queued;
  }

  /** What the queue costs: whole blocks plus CHUNK_OVERHEAD_BYTES each. Never more than the
   * budget with `drop`; with `pause`, the budget plus what the source sent before it stopped. */
  get memoryBytes(): number {
    return this.memory;
  }

  /** The source is paused by this channel (policy `pause`, over budget). */
  get isSourcePaused(): boolean {
    return this.sourcePaused;
  }

  /** Neither ended nor dropped nor disposed: pushes are taken. */
  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Whether the reader said it is full and has not resumed. */
  get isReaderBlocked(): boolean {
    return this.blocked;
  }

  /**
   * Producer: bytes for the reader. The channel keeps a reference to a large chunk that owns its
   * memory and copies anything else, so the producer MAY reuse its buffer afterwards (but a
   * chunk delivered at once goes to the reader as is). Returns false when the channel is over
   * budget (its source paused, or its reader dropped) or closed.
   */
  push(chunk: Uint8Array): boolean {
    if (this.state !== 'open') return false;
    if (chunk.byteLength === 0) return true;
    if (this.reader && !this.blocked && !this.flushing && this.isEmpty()) {
      this.deliver(chunk);
      return this.state === 'open';
    }
    this.enqueue(chunk);
    return this.checkBudget();
  }

  /** Producer: no more bytes. The reader gets `end(reason, 'ended')` after every queued byte. */
  end(reason: string): void {
    if (this.state !== 'open') return;
    this.state = 'ending';
    this.endReason = reason;
    this.endHow = 'ended';
    this.flush();
  }

  /** Gives up on the reader now: discards the queue and ends the reader with `reason`. */
  drop(reason = this.opts.dropReason ?? DEFAULT_DROP_REASON): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.endReason = reason;
    this.endHow = 'dropped';
    this.clear();
    this.finishReader();
    this.opts.onDrop?.(reason);
  }

  /**
   * Registers the reader (once): queued bytes are delivered first, then live ones; an end or a
   * drop that happened before is delivered now.
   */
  attach(reader: ByteReader): void {
    if (this.reader) throw new Error('This byte channel already has a reader.');
    this.reader = reader;
    if (this.state === 'closed') this.finishReader();
    else this.flush();
  }

  /** The reader drained after `write` returned false: deliver what is queued. */
  resume(): void {
    if (!this.reader || this.readerEnded) return;
    this.blocked = false;
    this.flush();
  }

  /** Releases everything at once, telling nobody (the reader went away, or the stream closed). */
  dispose(): void {
    this.state = 'closed';
    this.readerEnded = true;
    this.reader = undefined;
    this.clear();
  }

  private isEmpty(): boolean {
    return this.queue.length === 0 && this.tailUsed === 0;
  }

  private enqueue(chunk: Uint8Array): void {
    const n = chunk.byteLength;
    if (n >= BLOCK_BYTES) {
      this.closeTail();
      // Keep a chunk that owns its memory; a view would pin its whole (pooled) buffer: copy it.
      const owned =
        chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk : new Uint8Array(chunk);
      this.queue.push(owned);
      this.queued += n;
      this.memory += owned.buffer.byteLength + CHUNK_OVERHEAD_BYTES;
      return;
    }
    let off = 0;
    while (off < n) {
      if (!this.tail || this.tailUsed === this.tail.byteLength) {
        this.closeTail();
        this.tail = new Uint8Array(BLOCK_BYTES);
        this.memory += BLOCK_BYTES + CHUNK_OVERHEAD_BYTES;
      }
      const k = Math.min(n - off, this.tail.byteLength - this.tailUsed);
      this.tail.set(chunk.subarray(off, off + k), this.tailUsed);
      this.tailUsed += k;
      off += k;
    }
    this.queued += n;
  }

  /** Moves the block being filled to the queue (it is not written to again). */
  private closeTail(): void {
    if (!this.tail) return;
    if (this.tailUsed > 0) this.queue.push(this.tail.subarray(0, this.tailUsed));
    else this.memory -= this.tail.byteLength + CHUNK_OVERHEAD_BYTES;
    this.tail = undefined;
    this.tailUsed = 0;
  }

  private checkBudget(): boolean {
    if (this.memory <= this.opts.budgetBytes) return true;
    const policy = this.opts.overflow;
    if (policy.kind === 'drop') {
      this.drop();
      return false;
    }
    if (!this.sourcePaused) {
      this.sourcePaused = true;
      policy.source.pause();
    }
    if (this.memory > (policy.hardLimitBytes ?? 8 * this.opts.budgetBytes)) this.drop();
    return false;
  }

  private deliver(chunk: Uint8Array): void {
    let more: boolean;
    try {
      more = this.reader!.write(chunk);
    } catch (err) {
      // A broken reader must not break the producer (the serial hub serves other viewers).
      this.drop(err instanceof Error ? err.message : String(err));
      return;
    }
    if (!more) this.blocked = true;
  }

  private flush(): void {
    if (this.flushing || !this.reader || this.readerEnded) return;
    this.flushing = true;
    try {
      while (!this.blocked && this.state !== 'closed' && !this.isEmpty()) {
        this.closeTail();
        const entry = this.queue.shift()!;
        this.queued -= entry.byteLength;
        this.memory -= entry.buffer.byteLength + CHUNK_OVERHEAD_BYTES;
        this.deliver(entry);
      }
    } finally {
      this.flushing = false;
    }
    if (this.state === 'ending' && this.isEmpty()) {
      this.state = 'closed';
      this.finishReader();
      return;
    }
    const policy = this.opts.overflow;
    if (
      this.sourcePaused &&
      policy.kind === 'pause' &&
      this.state === 'open' &&
      this.memory <= this.opts.budgetBytes / 2
    ) {
      this.sourcePaused = false;
      // May push at once (a log reader catching up): state is consistent here.
      policy.source.resume();
    }
  }

  private finishReader(): void {
    if (!this.reader || this.readerEnded || this.endReason === undefined) return;
    this.readerEnded = true;
    const reader = this.reader;
    try {
      reader.end(this.endReason, this.endHow);
    } catch {
      /* the reader is gone either way */
    }
  }

  private clear(): void {
    this.queue.length = 0;
    this.tail = undefined;
    this.tailUsed = 0;
    this.queued = 0;
    this.memory = 0;
  }
}

/**
 * What an opened stream gives its transport: the bytes it sends (attach a reader when ready; they
 * wait, within the stream's budget, until then) and a way to send bytes back.
 */
export interface ByteStream {
  readonly output: ByteChannel;
  /**
   * Bytes from the client (keystrokes, RFB messages). Returns false when the way toward QEMU is
   * full (QEMU stopped reading: a paused guest, a UART that takes no more): the bytes are taken,
   * and the transport should hold further input, and stop reading its client, until the
   * `onInputDrain` listener runs. A stream without `onInputDrain` never returns false.
   */
  input(data: Uint8Array): boolean | void;
  /** Sets the one listener told when input that returned false has drained. */
  onInputDrain?(listener: () => void): void;
  /** The client went away: release everything (MUST be idempotent). */
  close(): void;
}

/**
 * The transports' side of a stream's input: `input` is the transport's channel of the client's
 * bytes (policy `pause` on the client's socket where it has one), and the stream is its reader.
 * While the stream says it is full, the channel holds the client's bytes; past its budget it
 * stops the client. `end` is the channel's (a stream whose input throws is dropped, never an
 * uncaught throw in a socket's event).
 */
export function attachStreamInput(input: ByteChannel, stream: ByteStream, end: ByteReader['end']): void {
  stream.onInputDrain?.(() => input.resume());
  input.attach({ write: (d) => stream.input(d) !== false, end });
}

/** A Node writable as a channel's reader (a socket, stdout): full when `write()` says so,
 * resumed on 'drain'. Returns a disposer that removes the drain listener. */
export function attachWritable(channel: ByteChannel, out: NodeJS.WritableStream, end: ByteReader['end']): () => void {
  const onDrain = () => channel.resume();
  out.on('drain', onDrain);
  channel.attach({ write: (chunk) => out.write(chunk), end });
  return () => {
    out.off('drain', onDrain);
  };
}
