import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { capLogFile } from './log-cap.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-logcap-'));
  file = path.join(dir, 'qemu.log');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** `n` bytes that differ by position, so a wrong offset shows. */
function pattern(n: number, from = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (from + i) % 251;
  return b;
}

describe('capLogFile', () => {
  it('leaves a file at or under the cap alone', () => {
    fs.writeFileSync(file, pattern(1000));
    expect(capLogFile(file, 1000)).toBe(false);
    expect(fs.readFileSync(file)).toEqual(pattern(1000));
    expect(fs.existsSync(`${file}.1`)).toBe(false);
  });

  it('does nothing for a missing file', () => {
    expect(capLogFile(file, 10)).toBe(false);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('over the cap, keeps the newest cap bytes in <file>.1 and empties <file>', () => {
    const old = pattern(3 * 1024 * 1024 + 17);
    fs.writeFileSync(file, old);
    const cap = 1024 * 1024 + 5;
    expect(capLogFile(file, cap)).toBe(true);
    const kept = fs.readFileSync(`${file}.1`);
    expect(kept.length).toBe(cap);
    // Buffer.equals: a deep toEqual over a MiB of bytes takes seconds.
    expect(kept.equals(old.subarray(old.length - cap))).toBe(true);
    expect(fs.statSync(file).size).toBe(0);
  });

  it('replaces an older <file>.1', () => {
    fs.writeFileSync(`${file}.1`, 'previous rotation, much longer than the cap');
    fs.writeFileSync(file, '0123456789');
    capLogFile(file, 4);
    expect(fs.readFileSync(`${file}.1`, 'utf8')).toBe('6789');
  });

  it('makes <file>.1 private to the user', () => {
    fs.writeFileSync(file, pattern(100));
    capLogFile(file, 10);
    expect(fs.statSync(`${file}.1`).mode & 0o777).toBe(0o600);
  });

  it('lets a writer holding the file O_APPEND (as QEMU does) go on at the start, without a hole', () => {
    const qemu = fs.openSync(file, 'a');
    try {
      fs.writeSync(qemu, pattern(5000));
      expect(capLogFile(file, 1000)).toBe(true);
      fs.writeSync(qemu, 'after rotation\n');
      expect(fs.readFileSync(file, 'utf8')).toBe('after rotation\n');
      expect(fs.statSync(file).size).toBe('after rotation\n'.length);
    } finally {
      fs.closeSync(qemu);
    }
  });
});
