import { describe, expect, it } from 'vitest';
import { BLOCK_BYTES, ByteChannel, CHUNK_OVERHEAD_BYTES, type ByteReader, type ByteSource } from './byte-channel.js';

const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

/** A reader that records what it gets; `full` makes write() say so. */
class Reader implements ByteReader {
  readonly chunks: Uint8Array[] = [];
  ended: { reason: string; how: 'ended' | 'dropped' } | undefined;
  full = false;
  write(chunk: Uint8Array): boolean {
    this.chunks.push(Uint8Array.from(chunk));
    return !this.full;
  }
  end(reason: string, how: 'ended' | 'dropped'): void {
    expect(this.ended).toBeUndefined(); // once
    this.ended = { reason, how };
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
  get received(): number {
    return this.chunks.reduce((n, c) => n + c.byteLength, 0);
  }
}

class Source implements ByteSource {
  paused = false;
  pauses = 0;
  resumes = 0;
  onResume: () => void = () => {};
  pause(): void {
    this.paused = true;
    this.pauses++;
  }
  resume(): void {
    this.paused = false;
    this.resumes++;
    this.onResume();
  }
}

const drop = (budgetBytes: number, dropReason = 'too slow') =>
  new ByteChannel({ budgetBytes, overflow: { kind: 'drop' }, dropReason });

describe('ByteChannel', () => {
  describe('before the reader registers', () => {
    it('holds every byte, in order, and delivers it on attach before live bytes', () => {
      const ch = drop(1024 * 1024);
      ch.push(bytes('boot '));
      ch.push(bytes('log\n'));
      expect(ch.queuedBytes).toBe(9);
      const r = new Reader();
      ch.attach(r);
      ch.push(bytes('live'));
      expect(r.text).toBe('boot log\nlive');
      expect(ch.queuedBytes).toBe(0);
      expect(ch.memoryBytes).toBe(0);
    });

    it('delivers an end that came before the reader, after the queued bytes', () => {
      const ch = drop(1024 * 1024);
      ch.push(bytes('last words'));
      ch.end('The VM stopped.');
      expect(ch.push(bytes('ignored'))).toBe(false);
      const r = new Reader();
      ch.attach(r);
      expect(r.text).toBe('last words');
      expect(r.ended).toEqual({ reason: 'The VM stopped.', how: 'ended' });
    });

    it('tells a reader that registers after a drop why it was dropped', () => {
      const ch = drop(BLOCK_BYTES * 2, 'This console fell too far behind.');
      while (ch.push(new Uint8Array(100))) {
        /* fill past the budget */
      }
      const r = new Reader();
      ch.attach(r);
      expect(r.received).toBe(0);
      expect(r.ended).toEqual({ reason: 'This console fell too far behind.', how: 'dropped' });
    });

    it('takes one reader only', () => {
      const ch = drop(1024);
      ch.attach(new Reader());
      expect(() => ch.attach(new Reader())).toThrow(/already has a reader/);
    });
  });

  describe('memory accounting', () => {
    it('counts tiny chunks as the blocks they are packed into, not as their payload', () => {
      const ch = drop(64 * 1024 * 1024);
      // QEMU's serial chardev delivers ~9-byte chunks: 100 000 of them are 900 kB of payload.
      const chunk = bytes('123456789');
      for (let i = 0; i < 100_000; i++) ch.push(chunk);
      expect(ch.queuedBytes).toBe(900_000);
      const blocks = Math.ceil(900_000 / BLOCK_BYTES);
      expect(ch.memoryBytes).toBe(blocks * (BLOCK_BYTES + CHUNK_OVERHEAD_BYTES));
      // Coalesced: the reader gets a few large pieces, the bytes intact and in order.
      const r = new Reader();
      ch.attach(r);
      expect(r.chunks.length).toBe(blocks);
      expect(r.received).toBe(900_000);
      expect(r.text.slice(0, 18)).toBe('123456789123456789');
      expect(ch.memoryBytes).toBe(0);
    });

    it('keeps a large chunk that owns its memory without copying, and copies a view into a larger buffer', () => {
      const ch = drop(64 * 1024 * 1024);
      const own = new Uint8Array(BLOCK_BYTES * 2).fill(1);
      ch.push(own);
      expect(ch.memoryBytes).toBe(own.byteLength + CHUNK_OVERHEAD_BYTES);
      const pool = new Uint8Array(BLOCK_BYTES * 8).fill(2);
      ch.push(pool.subarray(0, BLOCK_BYTES)); // pins 128 KiB if kept: copied instead
      expect(ch.memoryBytes).toBe(own.byteLength + BLOCK_BYTES + 2 * CHUNK_OVERHEAD_BYTES);
      pool.fill(3); // the producer reuses its buffer
      const r = new Reader();
      ch.attach(r);
      expect(r.chunks[1]!.every((b) => b === 2)).toBe(true);
    });

    it('copies small chunks, so a producer may reuse its buffer', () => {
      const ch = drop(1024 * 1024);
      const buf = bytes('abc');
      ch.push(buf);
      buf.set(bytes('xyz'));
      ch.push(buf);
      const r = new Reader();
      ch.attach(r);
      expect(r.text).toBe('abcxyz');
    });

    it('drops, with `drop`, as soon as the memory passes the budget, however small the chunks', () => {
      const budget = 4 * BLOCK_BYTES;
      let dropped: string | undefined;
      const ch = new ByteChannel({
        budgetBytes: budget,
        overflow: { kind: 'drop' },
        dropReason: 'behind',
        onDrop: (r) => {
          dropped = r;
        },
      });
      let pushed = 0;
      while (ch.push(bytes('123456789'))) {
        pushed += 9;
        expect(ch.memoryBytes).toBeLessThanOrEqual(budget);
      }
      // A budget of four blocks' bytes holds three blocks once each block's overhead counts.
      expect(pushed).toBeGreaterThan(3 * BLOCK_BYTES - 9);
      expect(pushed).toBeLessThanOrEqual(3 * BLOCK_BYTES);
      expect(dropped).toBe('behind');
      expect(ch.memoryBytes).toBe(0);
      expect(ch.isOpen).toBe(false);
    });
  });

  describe('a reader that says it is full', () => {
    it('gets nothing more until resume, then the rest in order', () => {
      const ch = drop(1024 * 1024);
      const r = new Reader();
      ch.attach(r);
      r.full = true;
      ch.push(bytes('a'));
      ch.push(bytes('b'));
      ch.push(bytes('c'));
      expect(r.text).toBe('a');
      expect(ch.isReaderBlocked).toBe(true);
      expect(ch.queuedBytes).toBe(2);
      r.full = false;
      ch.resume();
      expect(r.text).toBe('abc');
      ch.push(bytes('d'));
      expect(r.text).toBe('abcd');
    });

    it('stops again mid-queue when the reader fills up while catching up', () => {
      const ch = drop(64 * 1024 * 1024);
      const r = new Reader();
      ch.attach(r);
      r.full = true;
      ch.push(bytes('x'));
      for (let i = 0; i < 3 * BLOCK_BYTES; i++) ch.push(bytes('y'));
      const before = r.chunks.length;
      ch.resume(); // still full: takes one block, then stops
      expect(r.chunks.length).toBe(before + 1);
      r.full = false;
      ch.resume();
      expect(r.received).toBe(1 + 3 * BLOCK_BYTES);
    });

    it('ends after the queue drains, not before', () => {
      const ch = drop(1024 * 1024);
      const r = new Reader();
      ch.attach(r);
      r.full = true;
      ch.push(bytes('1'));
      ch.push(bytes('2'));
      ch.end('bye');
      expect(r.ended).toBeUndefined();
      r.full = false;
      ch.resume();
      expect(r.text).toBe('12');
      expect(r.ended).toEqual({ reason: 'bye', how: 'ended' });
    });

    it('drops a reader that throws, keeping the producer alive', () => {
      let dropped = '';
      const ch = new ByteChannel({
        budgetBytes: 1024,
        overflow: { kind: 'drop' },
        onDrop: (r) => {
          dropped = r;
        },
      });
      let ended: string | undefined;
      ch.attach({
        write: () => {
          throw new Error('EPIPE');
        },
        end: (reason) => {
          ended = reason;
        },
      });
      expect(() => ch.push(bytes('x'))).not.toThrow();
      expect(dropped).toBe('EPIPE');
      expect(ended).toBe('EPIPE');
    });
  });

  describe('the pause policy', () => {
    it('pauses the source past the budget and resumes it once the queue is under half', () => {
      const source = new Source();
      const budget = 4 * BLOCK_BYTES;
      const ch = new ByteChannel({ budgetBytes: budget, overflow: { kind: 'pause', source } });
      const r = new Reader();
      r.full = true;
      ch.attach(r);
      const chunk = new Uint8Array(1000);
      while (!source.paused) ch.push(chunk);
      expect(source.pauses).toBe(1);
      expect(ch.isSourcePaused).toBe(true);
      expect(ch.memoryBytes).toBeGreaterThan(budget);
      expect(ch.memoryBytes).toBeLessThanOrEqual(budget + BLOCK_BYTES + CHUNK_OVERHEAD_BYTES);
      // A source that cannot stop at once overshoots; the channel keeps taking (up to its hard limit).
      expect(ch.push(chunk)).toBe(false);
      expect(ch.isOpen).toBe(true);
      expect(source.pauses).toBe(1);
      // The reader takes one block: still over half the budget, so the source stays paused.
      ch.resume();
      expect(source.paused).toBe(true);
      r.full = false;
      ch.resume();
      expect(source.resumes).toBe(1);
      expect(ch.memoryBytes).toBe(0);
    });

    it('lets a source that pushes while being resumed (a log reader catching up) do so', () => {
      const source = new Source();
      const ch = new ByteChannel({ budgetBytes: 2 * BLOCK_BYTES, overflow: { kind: 'pause', source } });
      const r = new Reader();
      ch.attach(r);
      r.full = true;
      while (!source.paused) ch.push(new Uint8Array(5000).fill(1));
      source.onResume = () => {
        ch.push(bytes('caught up'));
      };
      r.full = false;
      ch.resume();
      expect(r.text.endsWith('caught up')).toBe(true);
      expect(ch.queuedBytes).toBe(0);
    });

    it('drops the reader past the hard limit when the source does not stop', () => {
      const source = new Source();
      const ch = new ByteChannel({
        budgetBytes: 2 * BLOCK_BYTES,
        overflow: { kind: 'pause', source, hardLimitBytes: 8 * BLOCK_BYTES },
        dropReason: 'stopped reading',
      });
      const r = new Reader();
      ch.attach(r);
      r.full = true;
      let n = 0;
      while (ch.isOpen) {
        ch.push(new Uint8Array(1000));
        n++;
        expect(ch.memoryBytes).toBeLessThanOrEqual(8 * BLOCK_BYTES + BLOCK_BYTES);
      }
      expect(n * 1000).toBeGreaterThan(7 * BLOCK_BYTES - 1000);
      expect(r.ended).toEqual({ reason: 'stopped reading', how: 'dropped' });
      expect(ch.memoryBytes).toBe(0);
    });

    it('holds the source paused while nobody reads (buffer-before-register stays bounded)', () => {
      const source = new Source();
      const ch = new ByteChannel({ budgetBytes: 2 * BLOCK_BYTES, overflow: { kind: 'pause', source } });
      while (!source.paused) ch.push(new Uint8Array(3000));
      const r = new Reader();
      ch.attach(r);
      expect(source.paused).toBe(false);
      expect(r.received).toBeGreaterThan(BLOCK_BYTES);
    });
  });

  describe('drop and dispose', () => {
    it('drop() discards the queue and ends the reader now, with the reason', () => {
      let dropped = 0;
      const ch = new ByteChannel({
        budgetBytes: 1024 * 1024,
        overflow: { kind: 'drop' },
        onDrop: () => {
          dropped++;
        },
      });
      const r = new Reader();
      ch.attach(r);
      r.full = true;
      ch.push(bytes('a'));
      ch.push(bytes('b'));
      ch.drop('The display stopped taking input.');
      ch.drop('again');
      expect(r.ended).toEqual({ reason: 'The display stopped taking input.', how: 'dropped' });
      expect(dropped).toBe(1);
      expect(ch.queuedBytes).toBe(0);
      ch.resume();
      expect(r.text).toBe('a');
    });

    it('dispose() releases everything and calls nobody', () => {
      const source = new Source();
      let dropped = 0;
      const ch = new ByteChannel({
        budgetBytes: 2 * BLOCK_BYTES,
        overflow: { kind: 'pause', source },
        onDrop: () => {
          dropped++;
        },
      });
      const r = new Reader();
      ch.attach(r);
      r.full = true;
      while (!source.paused) ch.push(new Uint8Array(4000));
      ch.dispose();
      expect(ch.memoryBytes).toBe(0);
      expect(ch.queuedBytes).toBe(0);
      expect(ch.push(bytes('x'))).toBe(false);
      ch.end('late');
      ch.resume();
      expect(r.ended).toBeUndefined();
      expect(dropped).toBe(0);
      expect(source.resumes).toBe(0);
    });

    it('ignores empty chunks', () => {
      const ch = drop(1024);
      expect(ch.push(new Uint8Array(0))).toBe(true);
      const r = new Reader();
      ch.attach(r);
      expect(r.chunks).toEqual([]);
    });

    it('refuses a budget that is not positive', () => {
      expect(() => drop(0)).toThrow(RangeError);
    });
  });
});
