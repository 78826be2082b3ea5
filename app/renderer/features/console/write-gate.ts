/**
 * Flow control for writing a byte stream into xterm.js (its flow-control guide: count bytes
 * handed to term.write() until its callback says they were parsed). A channel cannot be paused,
 * so while too much is in flight, chunks wait here and go out coalesced into one write. The wait
 * queue is bounded: a guest flooding its serial port loses its oldest unshown output, never the
 * page's memory, and a notice says so.
 */
export type WriteFn = (data: Uint8Array, parsed: () => void) => void;

export interface WriteGateLimits {
  /** Stop handing chunks to the terminal above this many unparsed bytes. */
  high: number;
  /** Resume (flush the queue) once in-flight bytes fall to this. */
  low: number;
  /** Most bytes kept waiting; older chunks are dropped beyond it. */
  maxQueued: number;
}

export const DEFAULT_LIMITS: WriteGateLimits = { high: 256 * 1024, low: 32 * 1024, maxQueued: 8 * 1024 * 1024 };

export function skippedNotice(bytes: number): Uint8Array {
  return new TextEncoder().encode(
    `\r\n\x1b[2m[vmdesk: skipped ${Math.ceil(bytes / 1024)} KiB of output the terminal could not keep up with]\x1b[0m\r\n`,
  );
}

export class WriteGate {
  private inFlight = 0;
  private queue: Uint8Array[] = [];
  private queued = 0;
  private dropped = 0;
  private closed = false;

  constructor(
    private readonly write: WriteFn,
    private readonly limits: WriteGateLimits = DEFAULT_LIMITS,
  ) {}

  /** Bytes handed to the terminal and not yet parsed, plus bytes waiting here. */
  get pendingBytes(): number {
    return this.inFlight + this.queued;
  }

  push(chunk: Uint8Array): void {
    if (this.closed || chunk.length === 0) return;
    // Order: nothing overtakes what is already waiting.
    if (this.queue.length === 0 && this.inFlight < this.limits.high) {
      this.send(chunk);
      return;
    }
    this.queue.push(chunk);
    this.queued += chunk.length;
    while (this.queued > this.limits.maxQueued && this.queue.length > 1) {
      const old = this.queue.shift()!;
      this.queued -= old.length;
      this.dropped += old.length;
    }
  }

  /** Forget waiting bytes (the terminal is being reset or disposed). */
  clear(): void {
    this.queue = [];
    this.queued = 0;
    this.dropped = 0;
  }

  close(): void {
    this.closed = true;
    this.clear();
  }

  private send(data: Uint8Array): void {
    this.inFlight += data.length;
    this.write(data, () => {
      this.inFlight -= data.length;
      if (this.inFlight <= this.limits.low) this.flush();
    });
  }

  private flush(): void {
    if (this.closed || this.queue.length === 0) return;
    const parts = this.dropped > 0 ? [skippedNotice(this.dropped), ...this.queue] : this.queue;
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    this.queue = [];
    this.queued = 0;
    this.dropped = 0;
    this.send(all);
  }
}
