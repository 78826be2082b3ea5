import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ByteReader } from './byte-channel.js';
import { tailLines, tailLog } from './log-tail.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-logtail-'));
  file = path.join(dir, 'qemu.log');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('tailLines', () => {
  it('reaches into the previous generation when a rotation just emptied the current file', () => {
    fs.writeFileSync(`${file}.1`, 'old-1\nold-2\nnewest\n');
    fs.writeFileSync(file, '');
    expect(tailLines(file, 2)).toEqual(['old-2', 'newest']);
    fs.writeFileSync(file, 'after\n');
    expect(tailLines(file, 3)).toEqual(['old-2', 'newest', 'after']);
    expect(tailLines(file, 1)).toEqual(['after']);
  });

  it('returns the last n lines without the final newline', () => {
    fs.writeFileSync(file, 'a\nb\nc\nd\n');
    expect(tailLines(file, 2)).toEqual(['c', 'd']);
  });

  it('keeps a last line that has no newline yet', () => {
    fs.writeFileSync(file, 'a\nb\npartial');
    expect(tailLines(file, 2)).toEqual(['b', 'partial']);
  });

  it('returns every line when there are fewer than asked', () => {
    fs.writeFileSync(file, 'only\n');
    expect(tailLines(file, 20)).toEqual(['only']);
  });

  it('keeps empty lines in the middle', () => {
    fs.writeFileSync(file, 'a\n\nb\n');
    expect(tailLines(file, 3)).toEqual(['a', '', 'b']);
  });

  it('returns nothing for an empty or missing file', () => {
    fs.writeFileSync(file, '');
    expect(tailLines(file, 5)).toEqual([]);
    expect(tailLines(path.join(dir, 'missing'), 5)).toEqual([]);
  });

  it('reads only the end of a large file', () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i}`);
    fs.writeFileSync(file, lines.join('\n') + '\n');
    expect(tailLines(file, 3)).toEqual(['line 19997', 'line 19998', 'line 19999']);
  });
});

/** A reader that collects text; `full` makes it say it cannot take more. */
class Collector implements ByteReader {
  text = '';
  full = false;
  ended: string | undefined;
  write(chunk: Uint8Array): boolean {
    this.text += Buffer.from(chunk).toString('latin1');
    return !this.full;
  }
  end(reason: string): void {
    this.ended = reason;
  }
}

describe('tailLog', () => {
  it('sends the last lines, then what is appended, once the reader attaches', async () => {
    fs.writeFileSync(file, 'a\nb\nc\n');
    const s = tailLog(file, 2);
    fs.appendFileSync(file, 'd\n');
    const r = new Collector();
    s.output.attach(r);
    await vi.waitFor(() => expect(r.text).toBe('b\nc\nd\n'));
    fs.appendFileSync(file, 'e\n');
    await vi.waitFor(() => expect(r.text).toBe('b\nc\nd\ne\n'));
    s.close();
  });

  it('waits for a log that does not exist yet', async () => {
    const later = path.join(dir, 'later', 'serial.log');
    const s = tailLog(later, 10);
    const r = new Collector();
    s.output.attach(r);
    fs.writeFileSync(later, 'first output\n');
    await vi.waitFor(() => expect(r.text).toBe('first output\n'));
    s.close();
  });

  it('restarts at the beginning of a log that was capped (copied and truncated)', async () => {
    fs.writeFileSync(file, 'old old old\n');
    const s = tailLog(file, 0);
    const r = new Collector();
    s.output.attach(r);
    fs.truncateSync(file, 0);
    fs.appendFileSync(file, 'new\n');
    await vi.waitFor(() => expect(r.text).toBe('new\n'));
    s.close();
  });

  it('stops reading the file while the reader is behind, and catches up when it drains', async () => {
    fs.writeFileSync(file, '');
    const budget = 64 * 1024;
    const s = tailLog(file, 0, budget);
    const r = new Collector();
    r.full = true;
    s.output.attach(r);
    // Much more than the budget: the tail reads up to it and then leaves the rest in the file.
    const line = 'x'.repeat(99) + '\n';
    fs.appendFileSync(file, line.repeat(10_000));
    await vi.waitFor(() => expect(s.output.isSourcePaused).toBe(true));
    fs.appendFileSync(file, 'tail end\n');
    await new Promise((res) => setTimeout(res, 50));
    expect(s.output.memoryBytes).toBeLessThanOrEqual(budget + 64 * 1024 + 1024);
    expect(r.text.length + s.output.queuedBytes).toBeLessThan(300_000);
    r.full = false;
    s.output.resume();
    await vi.waitFor(() => expect(r.text.length).toBe(1_000_000 + 'tail end\n'.length));
    expect(r.text.endsWith('x\ntail end\n')).toBe(true);
    s.close();
  });

  it('releases its queue when closed', () => {
    fs.writeFileSync(file, 'a\nb\n');
    const s = tailLog(file, 5);
    expect(s.output.queuedBytes).toBe(4);
    s.close();
    s.close();
    expect(s.output.memoryBytes).toBe(0);
  });
});
