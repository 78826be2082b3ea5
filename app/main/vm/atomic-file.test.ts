import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from './atomic-file.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-atomic-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const tempFiles = (d: string) => fs.readdirSync(d).filter((n) => n.endsWith('.tmp'));

describe('writeFileAtomic', () => {
  it('writes the content, creating missing parent directories', () => {
    const file = path.join(dir, 'a', 'b', 'x.json');
    writeFileAtomic(file, '{"a":1}\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('{"a":1}\n');
  });

  it('writes bytes as given', () => {
    const file = path.join(dir, 'x.bin');
    const bytes = new Uint8Array([0, 255, 10, 13, 0xc3]);
    writeFileAtomic(file, bytes);
    expect(new Uint8Array(fs.readFileSync(file))).toEqual(bytes);
  });

  it('creates the file 0600 unless told otherwise', () => {
    writeFileAtomic(path.join(dir, 'private'), 'x');
    writeFileAtomic(path.join(dir, 'shared'), 'x', 0o644);
    expect(fs.statSync(path.join(dir, 'private')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dir, 'shared')).mode & 0o777).toBe(0o644);
  });

  it('replaces an existing file and leaves no temp file behind', () => {
    const file = path.join(dir, 'x.json');
    fs.writeFileSync(file, 'old');
    writeFileAtomic(file, 'new');
    expect(fs.readFileSync(file, 'utf8')).toBe('new');
    expect(fs.readdirSync(dir)).toEqual(['x.json']);
  });

  it('replaces the file by rename, so a reader holding the old file still sees the old content', () => {
    const file = path.join(dir, 'x.json');
    fs.writeFileSync(file, 'old');
    const fd = fs.openSync(file, 'r');
    try {
      writeFileAtomic(file, 'new');
      expect(fs.readFileSync(fd, 'utf8')).toBe('old');
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.readFileSync(file, 'utf8')).toBe('new');
  });

  it('rethrows when the rename fails, keeps what was there and removes its temp file', () => {
    // The target is a non-empty directory: rename(2) of a file over it fails with EISDIR.
    const target = path.join(dir, 'x.json');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'inside'), 'old');
    expect(() => writeFileAtomic(target, 'new')).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    expect(fs.statSync(target).isDirectory()).toBe(true);
    expect(fs.readFileSync(path.join(target, 'inside'), 'utf8')).toBe('old');
    expect(tempFiles(dir)).toEqual([]);
  });
});
