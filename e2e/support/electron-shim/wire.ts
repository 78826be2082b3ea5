/**
 * The messages between the page's Electron shim (page-shim.ts) and the Node side of the harness
 * (electron-page.ts), over one WebSocket of JSON text frames. Electron's IPC structured-clones
 * its values; JSON cannot carry bytes, so every ArrayBuffer view travels as base64 under a tag
 * (a stream port's data are Uint8Array) and comes back as a Uint8Array of exactly its bytes.
 * Plain TS with no imports: it is bundled into the page's init script and imported by Node.
 */

/** Page → Node. Port ids are the page's; a `postMessage` names the ports it transferred. */
export type UpFrame =
  | { op: 'invoke'; id: number; channel: string; args: unknown[] }
  | { op: 'on'; channel: string }
  | { op: 'postMessage'; channel: string; message: unknown; ports: number[] }
  | { op: 'port'; id: number; msg: unknown };

/** Node → page. */
export type DownFrame =
  | { op: 'reply'; id: number; ok: true; value: unknown }
  | { op: 'reply'; id: number; ok: false; message: string }
  | { op: 'send'; channel: string; args: unknown[] }
  | { op: 'port'; id: number; msg: unknown }
  | { op: 'portClose'; id: number };

/** The tag of encoded bytes; a key no contract value uses. */
const BYTES = '\u0000bytes';

function toBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A value as JSON can carry it: views and ArrayBuffers become tagged base64. */
export function encodeValue(v: unknown): unknown {
  if (v instanceof ArrayBuffer) return { [BYTES]: toBase64(new Uint8Array(v)) };
  if (ArrayBuffer.isView(v)) return { [BYTES]: toBase64(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
  if (Array.isArray(v)) return v.map(encodeValue);
  if (typeof v === 'object' && v !== null) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = encodeValue(x);
    return o;
  }
  return v;
}

export function decodeValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decodeValue);
  if (typeof v === 'object' && v !== null) {
    const rec = v as Record<string, unknown>;
    const b = rec[BYTES];
    if (typeof b === 'string' && Object.keys(rec).length === 1) return fromBase64(b);
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(rec)) o[k] = decodeValue(x);
    return o;
  }
  return v;
}

export const encodeFrame = (f: UpFrame | DownFrame): string => JSON.stringify(encodeValue(f));
export const decodeFrame = <F extends UpFrame | DownFrame>(text: string): F => decodeValue(JSON.parse(text)) as F;
