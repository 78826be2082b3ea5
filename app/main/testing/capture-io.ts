/** A CLI command's stdout and stderr, in memory: what a test reads of what it printed. */
import { PassThrough } from 'node:stream';

export function captureIo(): { io: { out: PassThrough; err: PassThrough }; out: () => string; err: () => string } {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d: Buffer) => (o += d.toString()));
  err.on('data', (d: Buffer) => (e += d.toString()));
  return { io: { out, err }, out: () => o, err: () => e };
}
