import { describe, expect, it } from 'vitest';
import { WriteGate } from './write-gate.js';

/** A terminal whose parse callbacks run when the test says so. */
function slowTerminal() {
  const written: Uint8Array[] = [];
  const callbacks: (() => void)[] = [];
  return {
    written,
    write: (d: Uint8Array, cb: () => void) => {
      written.push(d);
      callbacks.push(cb);
    },
    parseAll: () => {
      for (const cb of callbacks.splice(0)) cb();
    },
  };
}

const bytes = (n: number, v = 0x41) => new Uint8Array(n).fill(v);
const text = (chunks: Uint8Array[]) => chunks.map((c) => new TextDecoder().decode(c)).join('');

describe('writing to xterm with flow control', () => {
  it('writes at once while little is in flight', () => {
    const t = slowTerminal();
    const g = new WriteGate(t.write, { high: 100, low: 10, maxQueued: 1000 });
    g.push(bytes(40));
    g.push(bytes(40));
    expect(t.written).toHaveLength(2);
  });

  it('queues above the high mark and flushes the queue as one write once parsed', () => {
    const t = slowTerminal();
    const g = new WriteGate(t.write, { high: 100, low: 10, maxQueued: 1000 });
    g.push(bytes(120, 0x61));
    g.push(bytes(5, 0x62));
    g.push(bytes(5, 0x63));
    expect(t.written).toHaveLength(1);
    expect(g.pendingBytes).toBe(130);
    t.parseAll();
    expect(t.written).toHaveLength(2);
    expect(text([t.written[1]!])).toBe('bbbbbccccc');
  });

  it('keeps byte order: nothing overtakes queued chunks', () => {
    const t = slowTerminal();
    const g = new WriteGate(t.write, { high: 10, low: 0, maxQueued: 1000 });
    for (const c of 'abcdef') g.push(new TextEncoder().encode(c.repeat(6)));
    while (g.pendingBytes > 0) t.parseAll();
    expect(text(t.written)).toBe('aaaaaabbbbbbccccccddddddeeeeeeffffff');
  });

  it('drops the oldest waiting output beyond its bound and says so', () => {
    const t = slowTerminal();
    const g = new WriteGate(t.write, { high: 10, low: 0, maxQueued: 20 });
    g.push(bytes(10, 0x30));
    for (const c of 'abcd') g.push(new TextEncoder().encode(c.repeat(10)));
    t.parseAll();
    const flushed = text([t.written[1]!]);
    expect(flushed).toContain('skipped 1 KiB');
    expect(flushed.endsWith('ccccccccccdddddddddd')).toBe(true);
  });

  it('writes nothing after close', () => {
    const t = slowTerminal();
    const g = new WriteGate(t.write, { high: 10, low: 0, maxQueued: 100 });
    g.push(bytes(20));
    g.push(bytes(5));
    g.close();
    t.parseAll();
    g.push(bytes(5));
    expect(t.written).toHaveLength(1);
  });
});
