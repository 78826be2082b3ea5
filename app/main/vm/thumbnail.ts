/**
 * A small PNG of a VM's screen from QEMU's `screendump` (PPM, the format every QEMU writes):
 * scaled down by averaging boxes of pixels, then written as an 8-bit RGB PNG with node's zlib.
 * No image library: a PPM is a header and raw bytes, and a PNG is three chunks.
 */
import zlib from 'node:zlib';

export interface Rgb {
  width: number;
  height: number;
  /** width × height × 3 bytes, rows top to bottom. */
  pixels: Buffer;
}

/** A binary PPM (P6, maxval 255), as QEMU's screendump writes it. */
export function parsePpm(data: Buffer): Rgb {
  // "P6" whitespace width whitespace height whitespace maxval one-whitespace pixels; # comments.
  let pos = 0;
  const token = (): string => {
    for (;;) {
      while (pos < data.length && /\s/.test(String.fromCharCode(data[pos]!))) pos++;
      if (data[pos] === 0x23) while (pos < data.length && data[pos] !== 0x0a) pos++;
      else break;
    }
    const start = pos;
    while (pos < data.length && !/\s/.test(String.fromCharCode(data[pos]!))) pos++;
    return data.subarray(start, pos).toString('latin1');
  };
  const magic = token();
  const width = Number(token());
  const height = Number(token());
  const maxval = Number(token());
  pos++; // the single whitespace before the pixels
  if (magic !== 'P6' || !(width > 0) || !(height > 0) || maxval !== 255)
    throw new Error(`not a P6 PPM with 8-bit samples (${magic} ${width}×${height} max ${maxval})`);
  const pixels = data.subarray(pos, pos + width * height * 3);
  if (pixels.length < width * height * 3) throw new Error('the PPM ends before its last pixel');
  return { width, height, pixels };
}

/** `img` no wider than `maxWidth` (kept as is when it is narrower), each pixel a box average. */
export function scaleDown(img: Rgb, maxWidth: number): Rgb {
  if (img.width <= maxWidth) return img;
  const width = maxWidth;
  const height = Math.max(1, Math.round((img.height * maxWidth) / img.width));
  const out = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    const y0 = Math.floor((y * img.height) / height);
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * img.height) / height));
    for (let x = 0; x < width; x++) {
      const x0 = Math.floor((x * img.width) / width);
      const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * img.width) / width));
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sy = y0; sy < y1; sy++)
        for (let sx = x0; sx < x1; sx++) {
          const i = (sy * img.width + sx) * 3;
          r += img.pixels[i]!;
          g += img.pixels[i + 1]!;
          b += img.pixels[i + 2]!;
        }
      const n = (y1 - y0) * (x1 - x0);
      const o = (y * width + x) * 3;
      out[o] = Math.round(r / n);
      out[o + 1] = Math.round(g / n);
      out[o + 2] = Math.round(b / n);
    }
  }
  return { width, height, pixels: out };
}

function chunk(type: string, body: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const typed = Buffer.concat([Buffer.from(type, 'latin1'), body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(typed));
  return Buffer.concat([len, typed, crc]);
}

/** An 8-bit RGB PNG, every row with filter 0 (none). */
export function encodePng(img: Rgb): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(img.width, 0);
  ihdr.writeUInt32BE(img.height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  const stride = img.width * 3;
  const raw = Buffer.alloc((stride + 1) * img.height);
  for (let y = 0; y < img.height; y++) img.pixels.copy(raw, y * (stride + 1) + 1, y * stride, (y + 1) * stride);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A screendump's PPM as a PNG at most `maxWidth` wide. */
export function thumbnailFromPpm(ppm: Buffer, maxWidth = 320): Buffer {
  return encodePng(scaleDown(parsePpm(ppm), maxWidth));
}
