import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodePng, parsePpm, scaleDown, thumbnailFromPpm } from './thumbnail.js';

/** A P6 PPM as QEMU's screendump writes it. */
function ppm(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): Buffer {
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) px.set(pixel(x, y), (y * width + x) * 3);
  return Buffer.concat([Buffer.from(`P6\n${width} ${height}\n255\n`, 'latin1'), px]);
}

/** Reads back what encodePng wrote: the size, and the pixels (every row is filter 0). */
function decode(png: Buffer): { width: number; height: number; rows: Buffer[] } {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let off = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (off < png.length) {
    const len = png.readUInt32BE(off);
    const type = png.subarray(off + 4, off + 8).toString('latin1');
    const body = png.subarray(off + 8, off + 8 + len);
    expect(png.readUInt32BE(off + 8 + len)).toBe(zlib.crc32(png.subarray(off + 4, off + 8 + len)));
    if (type === 'IHDR') [width, height] = [body.readUInt32BE(0), body.readUInt32BE(4)];
    if (type === 'IDAT') idat.push(body);
    off += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const rows = Array.from({ length: height }, (_, y) =>
    raw.subarray(y * (width * 3 + 1) + 1, (y + 1) * (width * 3 + 1)),
  );
  return { width, height, rows };
}

describe('screen thumbnails', () => {
  it('scales a 720×400 text-mode screen to 320 wide, each pixel the average of its box', () => {
    // Left half white, right half black: the middle column of the thumbnail is where they meet.
    const screen = ppm(720, 400, (x) => (x < 360 ? [255, 255, 255] : [0, 0, 0]));
    const png = decode(thumbnailFromPpm(screen));
    expect([png.width, png.height]).toEqual([320, 178]);
    expect([...png.rows[0]!.subarray(0, 3)]).toEqual([255, 255, 255]);
    expect([...png.rows[177]!.subarray(319 * 3)]).toEqual([0, 0, 0]);
  });

  it('keeps a small screen as it is, pixel for pixel', () => {
    const screen = ppm(4, 2, (x, y) => [x * 60, y * 100, 7]);
    const png = decode(encodePng(scaleDown(parsePpm(screen), 320)));
    expect([png.width, png.height]).toEqual([4, 2]);
    expect([...png.rows[1]!]).toEqual([0, 100, 7, 60, 100, 7, 120, 100, 7, 180, 100, 7]);
  });

  it('refuses what is not a binary 8-bit PPM, saying what it got', () => {
    expect(() => parsePpm(Buffer.from('P3\n1 1\n255\n0 0 0\n'))).toThrow(/not a P6 PPM/);
    expect(() => parsePpm(Buffer.from('P6\n2 2\n255\n\0\0\0'))).toThrow(/ends before its last pixel/);
  });
});
