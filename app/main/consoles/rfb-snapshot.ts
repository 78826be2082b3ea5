/**
 * One picture of a VM's screen through its VNC server: a short-lived RFB 3.8 client (no
 * authentication, shared session, raw encoding, 32-bit true colour) that asks for the whole
 * framebuffer once and hangs up. QEMU shares its display between clients, so a viewer the user
 * has open is not disturbed; the same code reads a libvirt domain's display (any ByteStream).
 *
 * Why not QMP `screendump`: it writes a PPM file for us to read back (twice the copying), and the
 * driver's QMP connection is the VM instance's; the VNC server is already the screen's one way out.
 */
import type { ByteStream } from './byte-channel.js';

/** A screen as 8-bit RGB, rows top to bottom (the same shape as vm/thumbnail.ts's Rgb). */
export interface Rgb {
  width: number;
  height: number;
  /** width × height × 3 bytes. */
  pixels: Buffer;
}

/** What the capture MUST NOT exceed: a 16k × 16k screen is already 1 GiB of raw pixels. */
const MAX_PIXELS = 8192 * 8192;

/**
 * Reads the whole screen once. Rejects with a sentence when the server wants a password, speaks
 * another protocol, hangs up, or sends nothing within `timeoutMs`. Closes `stream` in every case.
 */
export function captureRfb(stream: ByteStream, timeoutMs = 10_000): Promise<Rgb> {
  return new Promise<Rgb>((resolve, reject) => {
    const parser = new RfbSnapshotParser((bytes) => void stream.input(bytes));
    let done = false;
    const finish = (err: Error | undefined, img?: Rgb) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream.close();
      if (err) reject(err);
      else resolve(img!);
    };
    const timer = setTimeout(
      () => finish(new Error(`the VM's display sent no picture within ${Math.round(timeoutMs / 1000)} s`)),
      timeoutMs,
    );
    stream.output.attach({
      write: (chunk) => {
        try {
          const img = parser.push(chunk);
          if (img) finish(undefined, img);
        } catch (err) {
          finish(err as Error);
        }
        return true;
      },
      end: (reason) => finish(new Error(reason)),
    });
  });
}

type Phase = 'version' | 'security-types' | 'security-result' | 'server-init' | 'messages';

/**
 * The client's side of the conversation as a push parser (bytes in, replies out through `send`),
 * so it is tested with recorded server bytes and no socket. `push` returns the picture once a
 * framebuffer update has covered the whole screen.
 */
export class RfbSnapshotParser {
  #buf: Buffer = Buffer.alloc(0);
  #phase: Phase = 'version';
  #width = 0;
  #height = 0;
  /** RGB, 3 bytes a pixel, filled rect by rect. */
  #pixels: Buffer | undefined;
  #covered = 0;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** The buffer length the next message needs, when known (0: try with any new byte). */
  #need = 0;

  constructor(private readonly send: (bytes: Uint8Array) => void) {}

  push(chunk: Uint8Array): Rgb | undefined {
    // Chunks wait in a list until the message they belong to is whole: a framebuffer arrives in
    // dozens of chunks, and joining them one at a time would copy it dozens of times.
    this.#pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.#pendingBytes += chunk.byteLength;
    if (this.#buf.length + this.#pendingBytes < this.#need) return undefined;
    this.#buf = Buffer.concat([this.#buf, ...this.#pending]);
    this.#pending = [];
    this.#pendingBytes = 0;
    for (;;) {
      this.#need = 0;
      const used = this.#step();
      if (used === 0) {
        this.#need = Math.max(this.#need, this.#buf.length + 1);
        return undefined;
      }
      this.#buf = this.#buf.subarray(used);
      if (this.#pixels && this.#covered >= this.#width * this.#height)
        return { width: this.#width, height: this.#height, pixels: this.#pixels };
    }
  }

  /** Consumes one complete message from the buffer; 0 when it needs more bytes. */
  #step(): number {
    const b = this.#buf;
    switch (this.#phase) {
      case 'version': {
        if (b.length < 12) return 0;
        const v = b.subarray(0, 12).toString('latin1');
        if (!/^RFB \d{3}\.\d{3}\n$/.test(v)) throw new Error('the VM display does not speak VNC (RFB)');
        if (v < 'RFB 003.008\n') throw new Error(`the VM display speaks an old VNC version (${v.trim()})`);
        this.send(Buffer.from('RFB 003.008\n', 'latin1'));
        this.#phase = 'security-types';
        return 12;
      }
      case 'security-types': {
        if (b.length < 1) return 0;
        const n = b[0]!;
        if (n === 0) return this.#failure(1, 'the VM display refused the connection');
        if (b.length < 1 + n) return 0;
        const types = [...b.subarray(1, 1 + n)];
        if (!types.includes(1))
          throw new Error('the VM display asks for a password; thumbnails need a display without one');
        this.send(Uint8Array.of(1));
        this.#phase = 'security-result';
        return 1 + n;
      }
      case 'security-result': {
        if (b.length < 4) return 0;
        if (b.readUInt32BE(0) !== 0) return this.#failure(4, 'the VM display refused the connection');
        this.send(Uint8Array.of(1)); // ClientInit: shared, so other viewers stay connected
        this.#phase = 'server-init';
        return 4;
      }
      case 'server-init': {
        if (b.length < 24) return 0;
        const nameLen = b.readUInt32BE(20);
        if (b.length < 24 + nameLen) return 0;
        this.#width = b.readUInt16BE(0);
        this.#height = b.readUInt16BE(2);
        if (this.#width * this.#height > MAX_PIXELS || this.#width * this.#height === 0)
          throw new Error(`the VM display has an unusable size (${this.#width}×${this.#height})`);
        this.#pixels = Buffer.alloc(this.#width * this.#height * 3);
        this.send(setPixelFormat());
        this.send(Uint8Array.of(2, 0, 0, 1, 0, 0, 0, 0)); // SetEncodings: raw only
        this.send(updateRequest(this.#width, this.#height));
        this.#phase = 'messages';
        return 24 + nameLen;
      }
      case 'messages':
        return this.#message();
    }
  }

  #message(): number {
    const b = this.#buf;
    if (b.length < 1) return 0;
    switch (b[0]) {
      case 0: {
        // FramebufferUpdate: all its rects must be here before any is used (rect headers interleave).
        if (b.length < 4) return 0;
        const count = b.readUInt16BE(2);
        let pos = 4;
        const rects: { x: number; y: number; w: number; h: number; at: number }[] = [];
        for (let i = 0; i < count; i++) {
          if (b.length < pos + 12) return this.#wait(pos + 12);
          const r = {
            x: b.readUInt16BE(pos),
            y: b.readUInt16BE(pos + 2),
            w: b.readUInt16BE(pos + 4),
            h: b.readUInt16BE(pos + 6),
          };
          const encoding = b.readInt32BE(pos + 8);
          if (encoding !== 0) throw new Error(`the VM display sent encoding ${encoding}, which was not asked for`);
          rects.push({ ...r, at: pos + 12 });
          pos += 12 + r.w * r.h * 4;
        }
        if (b.length < pos) return this.#wait(pos);
        for (const r of rects) this.#paint(r.x, r.y, r.w, r.h, b.subarray(r.at, r.at + r.w * r.h * 4));
        return pos;
      }
      case 2: // Bell
        return 1;
      case 3: {
        // ServerCutText: the guest's clipboard, not ours to keep.
        if (b.length < 8) return 0;
        const len = b.readUInt32BE(4);
        return b.length < 8 + len ? 0 : 8 + len;
      }
      default:
        throw new Error(`the VM display sent message type ${b[0]}, which this client does not read`);
    }
  }

  /** Raw pixels in the format setPixelFormat asked for (little-endian 0x00RRGGBB: B, G, R, pad). */
  #paint(x: number, y: number, w: number, h: number, raw: Buffer): void {
    const px = this.#pixels!;
    const width = this.#width;
    for (let row = 0; row < h; row++) {
      const sy = y + row;
      if (sy >= this.#height) break;
      for (let col = 0; col < w; col++) {
        const sx = x + col;
        if (sx >= width) break;
        const i = (row * w + col) * 4;
        const o = (sy * width + sx) * 3;
        px[o] = raw[i + 2]!;
        px[o + 1] = raw[i + 1]!;
        px[o + 2] = raw[i]!;
      }
    }
    this.#covered += Math.min(w, Math.max(0, width - x)) * Math.min(h, Math.max(0, this.#height - y));
  }

  /** Not enough bytes yet: the message needs `bytes` in all. */
  #wait(bytes: number): number {
    this.#need = bytes;
    return 0;
  }

  /** A reason-length-reason failure (RFB 3.8), as the rejection's message. */
  #failure(skip: number, what: string): number {
    const b = this.#buf;
    if (b.length < skip + 4) return 0;
    const len = b.readUInt32BE(skip);
    if (b.length < skip + 4 + len) return 0;
    const reason = b.subarray(skip + 4, skip + 4 + len).toString('utf8');
    throw new Error(reason ? `${what}: ${reason}` : what);
  }
}

/** SetPixelFormat: 32 bpp, depth 24, little-endian, true colour, 8 bits each, R<<16 G<<8 B. */
function setPixelFormat(): Uint8Array {
  const m = Buffer.alloc(20);
  m[0] = 0;
  m[4] = 32; // bits per pixel
  m[5] = 24; // depth
  m[6] = 0; // big-endian: no
  m[7] = 1; // true colour
  m.writeUInt16BE(255, 8);
  m.writeUInt16BE(255, 10);
  m.writeUInt16BE(255, 12);
  m[14] = 16;
  m[15] = 8;
  m[16] = 0;
  return m;
}

function updateRequest(width: number, height: number): Uint8Array {
  const m = Buffer.alloc(10);
  m[0] = 3;
  m[1] = 0; // not incremental: the whole screen
  m.writeUInt16BE(width, 6);
  m.writeUInt16BE(height, 8);
  return m;
}
