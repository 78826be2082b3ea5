import { describe, expect, it } from 'vitest';
import { RfbSnapshotParser } from './rfb-snapshot.js';

const u16 = (n: number) => [n >> 8, n & 0xff];
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];

/** What a QEMU VNC server says up to ServerInit (no auth, a `w`×`h` screen named "QEMU"). */
function handshake(w: number, h: number): Buffer {
  return Buffer.from([
    ...Buffer.from('RFB 003.008\n'),
    1,
    1, // one security type: None
    ...u32(0), // SecurityResult OK
    ...u16(w),
    ...u16(h),
    ...new Array<number>(16).fill(0), // its pixel format (the client replaces it)
    ...u32(4),
    ...Buffer.from('QEMU'),
  ]);
}

/** A raw rect of one colour, as 32-bit little-endian 0x00RRGGBB pixels (B, G, R, pad). */
function rect(x: number, y: number, w: number, h: number, [r, g, b]: number[]): number[] {
  const px: number[] = [];
  for (let i = 0; i < w * h; i++) px.push(b!, g!, r!, 0);
  return [...u16(x), ...u16(y), ...u16(w), ...u16(h), ...u32(0), ...px];
}

function update(...rects: number[][]): Buffer {
  return Buffer.from([0, 0, ...u16(rects.length), ...rects.flat()]);
}

/** Feeds `bytes` `size` bytes at a time; the picture, if one came, and what the client sent. */
function feed(bytes: Buffer, size: number) {
  const sent: Buffer[] = [];
  const p = new RfbSnapshotParser((b) => sent.push(Buffer.from(b)));
  let img;
  for (let i = 0; i < bytes.length && !img; i += size) img = p.push(bytes.subarray(i, i + size));
  return { img, sent };
}

describe('RfbSnapshotParser', () => {
  const server = Buffer.concat([
    handshake(4, 2),
    Buffer.from([2]), // a bell before the picture
    update(rect(0, 0, 4, 1, [255, 0, 0]), rect(0, 1, 4, 1, [0, 0, 255])),
  ]);

  it('shakes hands as a shared, unauthenticated RFB 3.8 client and asks for the whole screen in raw', () => {
    const { sent } = feed(server, server.length);
    expect(sent[0]!.toString()).toBe('RFB 003.008\n');
    expect([...sent[1]!]).toEqual([1]); // security None
    expect([...sent[2]!]).toEqual([1]); // ClientInit shared
    expect(sent[3]![0]).toBe(0); // SetPixelFormat
    expect([...sent[4]!]).toEqual([2, 0, 0, 1, 0, 0, 0, 0]); // SetEncodings raw
    expect([...sent[5]!]).toEqual([3, 0, 0, 0, 0, 0, 0, 4, 0, 2]); // full, non-incremental request
  });

  it.each([1, 3, 7, 4096])('puts the rects together into RGB, whatever the chunk size (%i)', (size) => {
    const { img } = feed(server, size);
    expect(img).toBeDefined();
    expect(img!.width).toBe(4);
    expect(img!.height).toBe(2);
    expect([...img!.pixels.subarray(0, 3)]).toEqual([255, 0, 0]);
    expect([...img!.pixels.subarray(4 * 3, 4 * 3 + 3)]).toEqual([0, 0, 255]);
  });

  it('waits for updates until the whole screen is covered', () => {
    const half = Buffer.concat([handshake(4, 2), update(rect(0, 0, 4, 1, [1, 2, 3]))]);
    expect(feed(half, half.length).img).toBeUndefined();
    const rest = Buffer.concat([half, update(rect(0, 1, 4, 1, [4, 5, 6]))]);
    expect(feed(rest, 5).img).toBeDefined();
  });

  it('skips the guest clipboard the server sends', () => {
    const bytes = Buffer.concat([
      handshake(1, 1),
      Buffer.from([3, 0, 0, 0, ...u32(5), ...Buffer.from('hello')]),
      update(rect(0, 0, 1, 1, [9, 8, 7])),
    ]);
    expect([...feed(bytes, 2).img!.pixels]).toEqual([9, 8, 7]);
  });

  it('refuses a display that wants a password, saying why', () => {
    const bytes = Buffer.from([...Buffer.from('RFB 003.008\n'), 1, 2]);
    expect(() => feed(bytes, bytes.length)).toThrow(/asks for a password/);
  });

  it("says the server's reason when it refuses the connection", () => {
    const bytes = Buffer.from([...Buffer.from('RFB 003.008\n'), 0, ...u32(13), ...Buffer.from('too many VNCs')]);
    expect(() => feed(bytes, 4)).toThrow('the VM display refused the connection: too many VNCs');
  });

  it('refuses what is not VNC', () => {
    const bytes = Buffer.from('HTTP/1.1 400 Bad Request\r\n');
    expect(() => feed(bytes, bytes.length)).toThrow(/does not speak VNC/);
  });
});
