import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ScreenThumbs, type ScreenSource } from './screen-thumbs.js';
import zlib from 'node:zlib';
import type { Rgb } from './thumbnail.js';

/** A w×h screen of one colour. */
const screen = (w: number, h: number, rgb: [number, number, number]): Rgb => {
  const pixels = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) pixels.set(rgb, i * 3);
  return { width: w, height: h, pixels };
};

/** The colour of a PNG's first pixel (encodePng writes filter-0 RGB rows in one IDAT). */
function firstPixel(pngB64: string): number[] {
  const png = Buffer.from(pngB64, 'base64');
  const idat = png.indexOf('IDAT');
  const len = png.readUInt32BE(idat - 4);
  const raw = zlib.inflateSync(png.subarray(idat + 4, idat + 4 + len));
  return [...raw.subarray(1, 4)];
}

let dir: string;
let clock: number;
let captured: number;
let colour: [number, number, number];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbs-'));
  clock = 1_000_000;
  captured = 0;
  colour = [200, 10, 10];
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const thumbs = () => new ScreenThumbs({ minIntervalMs: 3000, width: 64, now: () => clock });
const vm = (over: Partial<ScreenSource> = {}): ScreenSource => ({
  id: 'a',
  running: true,
  file: path.join(dir, 'a', 'screen.png'),
  capture: async () => {
    captured++;
    return screen(320, 200, colour);
  },
  ...over,
});

describe('ScreenThumbs', () => {
  it('captures a running VM and answers with a small PNG and the time it was taken', async () => {
    const t = thumbs();
    const r = await t.get(vm());
    expect(captured).toBe(1);
    expect(r.takenAt).toBe(new Date(clock).toISOString());
    const png = Buffer.from(r.png!, 'base64');
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(64); // IHDR width: scaled down to the thumbnail width
    expect(firstPixel(r.png!)).toEqual([200, 10, 10]);
  });

  it('captures one VM at most once per interval, however many callers ask', async () => {
    const t = thumbs();
    await Promise.all([t.get(vm()), t.get(vm()), t.get(vm())]);
    clock += 2999;
    const again = await t.get(vm());
    expect(captured).toBe(1);
    expect(again.takenAt).toBe(new Date(clock - 2999).toISOString());
    clock += 1;
    colour = [0, 0, 250];
    const fresh = await t.get(vm());
    expect(captured).toBe(2);
    expect(firstPixel(fresh.png!)).toEqual([0, 0, 250]);
    expect(t.captures).toBe(2);
  });

  it('never captures a paused or stopped VM and answers with its last picture', async () => {
    const t = thumbs();
    const first = await t.get(vm());
    for (let i = 0; i < 5; i++) {
      clock += 10_000;
      expect(await t.get(vm({ running: false }))).toEqual(first);
    }
    expect(captured).toBe(1);
  });

  it('keeps the last picture on disk, so a new driver shows it for a stopped VM', async () => {
    const first = await thumbs().get(vm());
    const file = path.join(dir, 'a', 'screen.png');
    expect(fs.existsSync(file)).toBe(true);
    const later = await thumbs().get(vm({ running: false }));
    expect(captured).toBe(1);
    expect(later.png).toBe(first.png);
    expect(later.takenAt).toBe(first.takenAt);
  });

  it('answers null for a VM that never ran', async () => {
    expect(await thumbs().get(vm({ running: false }))).toEqual({ png: null, takenAt: null });
  });

  it('keeps the last picture when a capture fails, says so once, and waits the interval to retry', async () => {
    const lines: string[] = [];
    const t = new ScreenThumbs({ minIntervalMs: 3000, now: () => clock, log: (_id, l) => lines.push(l) });
    const first = await t.get(vm());
    const failing = vm({
      capture: async () => {
        captured++;
        throw new Error('the VM display refused the connection');
      },
    });
    for (let i = 0; i < 3; i++) {
      clock += 3000;
      expect(await t.get(failing)).toEqual(first);
    }
    await t.get(failing); // within the interval: no attempt
    expect(captured).toBe(4);
    expect(lines).toEqual(['screen thumbnail not taken: the VM display refused the connection']);
  });

  it('forgets a deleted VM', async () => {
    const t = thumbs();
    await t.get(vm({ file: undefined }));
    t.forget('a');
    expect(await t.get(vm({ file: undefined, running: false }))).toEqual({ png: null, takenAt: null });
  });
});
