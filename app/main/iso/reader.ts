/**
 * Positioned, bounded reads from an image file. Every structure in an ISO is located by numbers
 * that come from the file itself, so nothing here trusts them: each read is checked against the
 * file size and a per-read cap, and the whole inspection has a byte budget, so a hostile or
 * damaged image can make us read at most a few megabytes and never loads the whole file.
 */
import type { FileHandle } from 'node:fs/promises';

export const SECTOR = 2048;
/** The largest single read any parser may ask for (a directory, a boot catalogue, WIM XML). */
export const MAX_READ = 4 * 2 ** 20;
/** Everything one inspection may read in total. */
export const READ_BUDGET = 48 * 2 ** 20;

/**
 * A structure in the image is malformed (an offset past the end, a bad tag, a loop). Parsers of
 * optional parts (boot catalogue, ESP, UDF, WIM) catch it and turn it into a warning; any other
 * exception is a bug.
 */
export class IsoFormatError extends Error {
  override readonly name = 'IsoFormatError';
}

/** Something to read bytes from: a FileHandle in production, mutated buffers in the fuzz test. */
export interface ByteSource {
  readonly size: number;
  readInto(buf: Buffer, position: number): Promise<number>;
}

export function fileSource(fh: FileHandle, size: number): ByteSource {
  return {
    size,
    async readInto(buf, position) {
      // A positioned read may return fewer bytes than asked (a file shrinking under us): loop
      // until full or until the file has no more.
      let done = 0;
      while (done < buf.length) {
        const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done;
    },
  };
}

export class ImageReader {
  private spent = 0;
  constructor(private readonly src: ByteSource) {}

  get size(): number {
    return this.src.size;
  }

  /** True when [offset, offset+length) lies inside the file and is a sane request. */
  has(offset: number, length: number): boolean {
    return (
      Number.isSafeInteger(offset) &&
      Number.isSafeInteger(length) &&
      offset >= 0 &&
      length >= 0 &&
      length <= MAX_READ &&
      offset + length <= this.src.size
    );
  }

  /** Reads exactly `length` bytes at `offset`, or undefined when they are not all in the file. */
  async tryRead(offset: number, length: number): Promise<Buffer | undefined> {
    if (!this.has(offset, length)) return undefined;
    this.spent += length;
    if (this.spent > READ_BUDGET)
      throw new IsoFormatError('the image asks for far more reading than any real ISO needs');
    const buf = Buffer.alloc(length);
    const n = await this.src.readInto(buf, offset);
    return n === length ? buf : undefined;
  }

  /** Like tryRead, but a missing range is a format error naming `what`. */
  async read(offset: number, length: number, what: string): Promise<Buffer> {
    const buf = await this.tryRead(offset, length);
    if (!buf)
      throw new IsoFormatError(
        `${what} lies outside the file (offset ${offset}, ${length} bytes; the file has ${this.src.size})`,
      );
    return buf;
  }

  async sectors(lba: number, count: number, what: string): Promise<Buffer> {
    return this.read(lba * SECTOR, count * SECTOR, what);
  }
}

/** Bounds-checked little/big-endian field readers: out-of-range is a format error, never a RangeError. */
export function u8(b: Buffer, o: number): number {
  if (o < 0 || o + 1 > b.length)
    throw new IsoFormatError(`field at ${o} is past the end of a ${b.length}-byte structure`);
  return b[o]!;
}
export function u16(b: Buffer, o: number): number {
  if (o < 0 || o + 2 > b.length)
    throw new IsoFormatError(`field at ${o} is past the end of a ${b.length}-byte structure`);
  return b.readUInt16LE(o);
}
export function u32(b: Buffer, o: number): number {
  if (o < 0 || o + 4 > b.length)
    throw new IsoFormatError(`field at ${o} is past the end of a ${b.length}-byte structure`);
  return b.readUInt32LE(o);
}
export function u32be(b: Buffer, o: number): number {
  if (o < 0 || o + 4 > b.length)
    throw new IsoFormatError(`field at ${o} is past the end of a ${b.length}-byte structure`);
  return b.readUInt32BE(o);
}
/** A 64-bit little-endian number, or a format error when it does not fit in a JS safe integer. */
export function u64(b: Buffer, o: number): number {
  if (o < 0 || o + 8 > b.length)
    throw new IsoFormatError(`field at ${o} is past the end of a ${b.length}-byte structure`);
  const v = b.readBigUInt64LE(o);
  if (v > BigInt(Number.MAX_SAFE_INTEGER))
    throw new IsoFormatError(`a 64-bit size (${v}) is larger than any real file`);
  return Number(v);
}
/** `len` bytes at `o`, clipped to the buffer. */
export function slice(b: Buffer, o: number, len: number): Buffer {
  const start = Math.max(0, Math.min(o, b.length));
  return b.subarray(start, Math.max(start, Math.min(o + len, b.length)));
}

/** C0 and C1 control characters (NUL padding included): removed from text fields. A named
 * constant so the lint exception stays on its line whatever a formatter does to the calls. */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;

/** Printable text from fixed-width ASCII fields: NULs and trailing padding dropped, control characters removed. */
export function asciiField(b: Buffer): string {
  return b.toString('latin1').replace(CONTROL_CHARS, '').trimEnd();
}

/** UCS-2 big-endian text (Joliet, UDF CS0 16-bit), control characters removed. */
export function ucs2beField(b: Buffer): string {
  const even = b.subarray(0, b.length - (b.length % 2));
  const le = Buffer.from(even);
  le.swap16();
  return le.toString('utf16le').replace(CONTROL_CHARS, '').trimEnd();
}
