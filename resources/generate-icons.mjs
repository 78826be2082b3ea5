// Draws vmdesk's icons as PNG files (no image tools needed): `node resources/generate-icons.mjs`.
// The PNGs are committed; run this again only to change the drawing.
// - icon.png (1024 px): the app icon (electron-builder makes the macOS .icns from it) and the window icon
// - icons/NxN.png: the Linux icon set (AppImage, deb, desktop entry)
// - tray.png / tray@2x.png: the Linux/Windows tray icon (coloured)
// - trayTemplate.png / trayTemplate@2x.png: the macOS menu bar icon (black + alpha; macOS recolours it)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** RGBA pixels (Float32, 0..1, premultiplied) → PNG bytes. */
function png(size, px) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 4;
      const a = px[i + 3];
      const o = y * (size * 4 + 1) + 1 + x * 4;
      for (let c = 0; c < 3; c++) raw[o + c] = a > 0 ? Math.round(Math.min(1, px[i + c] / a) * 255) : 0;
      raw[o + 3] = Math.round(a * 255);
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Signed distance to a rounded rectangle (unit coordinates), negative inside. */
function roundRect(x0, y0, x1, y1, r) {
  return (x, y) => {
    const cx = (x0 + x1) / 2,
      cy = (y0 + y1) / 2;
    const qx = Math.abs(x - cx) - ((x1 - x0) / 2 - r),
      qy = Math.abs(y - cy) - ((y1 - y0) / 2 - r);
    return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r;
  };
}
/** A thick line segment (the prompt chevron). */
function segment(ax, ay, bx, by, w) {
  return (x, y) => {
    const dx = bx - ax,
      dy = by - ay;
    const t = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)));
    return Math.hypot(x - ax - t * dx, y - ay - t * dy) - w / 2;
  };
}
const union =
  (...fs) =>
  (x, y) =>
    Math.min(...fs.map((f) => f(x, y)));
const minus = (a, b) => (x, y) => Math.max(a(x, y), -b(x, y));

/** Renders layers [{shape, color: (x, y) => [r, g, b], alpha}] with 4×4 supersampling. */
function render(size, layers) {
  const px = new Float32Array(size * size * 4);
  const S = 4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const acc = [0, 0, 0, 0];
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const u = (x + (sx + 0.5) / S) / size,
            v = (y + (sy + 0.5) / S) / size;
          let out = [0, 0, 0, 0];
          for (const l of layers) {
            if (l.shape(u, v) > 0) continue;
            const [r, g, b] = l.color(u, v);
            const a = l.alpha ?? 1;
            out = [r * a + out[0] * (1 - a), g * a + out[1] * (1 - a), b * a + out[2] * (1 - a), a + out[3] * (1 - a)];
          }
          for (let c = 0; c < 4; c++) acc[c] += out[c];
        }
      }
      for (let c = 0; c < 4; c++) px[(y * size + x) * 4 + c] = acc[c] / (S * S);
    }
  }
  return px;
}

const hex = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16) / 255);
const mix = (a, b, t) => a.map((v, i) => v + (b[i] - v) * t);
const TOP = hex('#3b82f6'),
  BOTTOM = hex('#1e3a8a'),
  WHITE = hex('#ffffff'),
  SCREEN = hex('#0f1f44'),
  PROMPT = hex('#5eead4');

const monitor = roundRect(0.2, 0.25, 0.8, 0.67, 0.05);
const screen = roundRect(0.245, 0.295, 0.755, 0.625, 0.02);
const stand = union(roundRect(0.455, 0.66, 0.545, 0.75, 0.005), roundRect(0.34, 0.735, 0.66, 0.785, 0.02));
const chevron = union(segment(0.32, 0.39, 0.41, 0.46, 0.045), segment(0.41, 0.46, 0.32, 0.53, 0.045));
const cursor = roundRect(0.45, 0.51, 0.58, 0.55, 0.01);

function appIcon(size) {
  return render(size, [
    { shape: roundRect(0.06, 0.06, 0.94, 0.94, 0.2), color: (_x, y) => mix(TOP, BOTTOM, y) },
    { shape: union(monitor, stand), color: () => WHITE },
    { shape: screen, color: () => SCREEN },
    { shape: union(chevron, cursor), color: () => PROMPT },
  ]);
}

/** Menu bar: the monitor as an outline with the prompt, black; bolder strokes read better at 16 px. */
function trayTemplate(size) {
  const frame = minus(roundRect(0.06, 0.12, 0.94, 0.74, 0.1), roundRect(0.16, 0.22, 0.84, 0.64, 0.04));
  const base = union(roundRect(0.43, 0.72, 0.57, 0.86, 0.01), roundRect(0.24, 0.82, 0.76, 0.92, 0.04));
  const prompt = union(segment(0.3, 0.33, 0.44, 0.43, 0.1), segment(0.44, 0.43, 0.3, 0.53, 0.1));
  return render(size, [{ shape: union(frame, base, prompt), color: () => [0, 0, 0] }]);
}

const out = (name, size, pixels) => {
  fs.mkdirSync(path.dirname(path.join(here, name)), { recursive: true });
  fs.writeFileSync(path.join(here, name), png(size, pixels));
};
out('icon.png', 1024, appIcon(1024));
for (const s of [16, 32, 48, 64, 128, 256, 512]) out(`icons/${s}x${s}.png`, s, appIcon(s));
out('tray.png', 22, appIcon(22));
out('tray@2x.png', 44, appIcon(44));
out('trayTemplate.png', 16, trayTemplate(16));
out('trayTemplate@2x.png', 32, trayTemplate(32));
