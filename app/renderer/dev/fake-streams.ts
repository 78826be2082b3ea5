/**
 * In-memory streams for the demo fake: a channel pair, a serial console that echoes, a minimal
 * RFB 3.8 server (no auth, one raw frame) so noVNC really draws, and log tails.
 */
import { STREAM_CLOSE, type StreamChannel, type StreamCloseEvent } from '../../main/common/api.js';

/** The server's side of a fake stream. */
export interface FakeServer {
  push(bytes: Uint8Array): void;
  end(reason: string, code?: number): void;
  onInput: (bytes: Uint8Array) => void;
}

export class FakeChannel implements StreamChannel {
  binaryType: 'arraybuffer' | 'blob' = 'arraybuffer';
  protocol = '';
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: ArrayBuffer }) => void) | null = null;
  onclose: ((ev: StreamCloseEvent) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly server: FakeServer;
  private onClientClose: () => void = () => {};

  /** `start` runs once the channel is open, like a server accepting the stream. */
  constructor(start: (server: FakeServer) => (() => void) | void) {
    this.server = {
      push: (bytes) => {
        if (this.readyState !== 1) return;
        const copy = bytes.slice().buffer;
        this.onmessage?.({ data: copy });
      },
      end: (reason, code = STREAM_CLOSE.ended) => this.finish(code, reason),
      onInput: () => {},
    };
    setTimeout(() => {
      if (this.readyState !== 0) return;
      this.readyState = 1;
      this.onopen?.({});
      this.onClientClose = start(this.server) ?? (() => {});
    }, 20);
  }

  send(data: ArrayBuffer | ArrayBufferView | string): void {
    if (this.readyState !== 1) return;
    const bytes =
      typeof data === 'string'
        ? new TextEncoder().encode(data)
        : data instanceof ArrayBuffer
          ? new Uint8Array(data)
          : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const copy = bytes.slice();
    queueMicrotask(() => this.server.onInput(copy));
  }

  close(code = 1000, reason = ''): void {
    this.onClientClose();
    this.finish(code, reason);
  }

  private finish(code: number, reason: string): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code, reason, wasClean: true }), 0);
  }
}

const enc = new TextEncoder();

/** A login banner, then an echoing shell prompt. */
export function serialServer(vmName: string) {
  return (s: FakeServer) => {
    const prompt = `\x1b[1;32mada@${vmName}\x1b[0m:\x1b[1;34m~\x1b[0m$ `;
    s.push(
      enc.encode(
        `\r\nDebian GNU/Linux 12 ${vmName} ttyS0\r\n\r\n${vmName} login: ada\r\nPassword: \r\nLast login: Fri Nov 21 09:12:44 UTC 2025 on ttyS0\r\nLinux ${vmName} 6.1.0-27-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 x86_64\r\n\r\n${prompt}`,
      ),
    );
    let line = '';
    s.onInput = (bytes) => {
      for (const ch of new TextDecoder().decode(bytes)) {
        if (ch === '\r') {
          const out =
            line.trim() === ''
              ? ''
              : line.trim() === 'uname -a'
                ? `Linux ${vmName} 6.1.0-27-amd64 x86_64 GNU/Linux\r\n`
                : `-bash: ${line.trim().split(' ')[0]}: command not found\r\n`;
          s.push(enc.encode(`\r\n${out}${prompt}`));
          line = '';
        } else if (ch === '\x7f') {
          if (line.length > 0) {
            line = line.slice(0, -1);
            s.push(enc.encode('\b \b'));
          }
        } else if (ch >= ' ') {
          line += ch;
          s.push(enc.encode(ch));
        }
      }
    };
  };
}

/** The smallest RFB server noVNC accepts: version 3.8, security None, one raw frame. */
export function rfbServer(vmName: string, width = 1024, height = 768) {
  return (s: FakeServer) => {
    let stage = 0;
    let need = 12;
    let sentFrame = false;
    s.push(enc.encode('RFB 003.008\n'));
    s.onInput = (bytes) => {
      let n = bytes.length;
      while (n > 0) {
        if (stage >= 3) {
          // ClientCutText (noVNC sends each message in one piece): the demo guest copies back
          // what was pasted into it, as a guest's vdagent would after a copy there, so both
          // directions of the clipboard can be seen without QEMU.
          if (bytes[0] === 6 && bytes.length >= 8) {
            const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(4);
            const text = bytes.slice(8, 8 + len);
            const cut = new Uint8Array(8 + text.length);
            cut[0] = 3;
            new DataView(cut.buffer).setUint32(4, text.length);
            cut.set(text, 8);
            setTimeout(() => s.push(cut), 300);
            return;
          }
          if (!sentFrame) {
            sentFrame = true;
            s.push(frame(width, height));
          }
          return;
        }
        const used = Math.min(n, need);
        n -= used;
        need -= used;
        if (need > 0) return;
        if (stage === 0) {
          s.push(new Uint8Array([1, 1]));
          need = 1;
        } else if (stage === 1) {
          s.push(new Uint8Array([0, 0, 0, 0]));
          need = 1;
        } else if (stage === 2) s.push(serverInit(width, height, vmName));
        stage++;
      }
    };
  };
}

function serverInit(w: number, h: number, name: string): Uint8Array {
  const nameBytes = enc.encode(name);
  const b = new Uint8Array(24 + nameBytes.length);
  const v = new DataView(b.buffer);
  v.setUint16(0, w);
  v.setUint16(2, h);
  // 32 bpp, depth 24, little endian, true colour, max 255 each, shifts R0 G8 B16 (noVNC's own format).
  b.set([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 0, 8, 16], 4);
  v.setUint32(20, nameBytes.length);
  b.set(nameBytes, 24);
  return b;
}

/** One FramebufferUpdate with a raw rectangle: a calm gradient "desktop" with a window. */
function frame(w: number, h: number): Uint8Array {
  const b = new Uint8Array(4 + 12 + w * h * 4);
  const v = new DataView(b.buffer);
  v.setUint16(2, 1);
  v.setUint16(8, w);
  v.setUint16(10, h);
  let p = 16;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inWin = x > w * 0.25 && x < w * 0.75 && y > h * 0.3 && y < h * 0.7;
      const title = inWin && y < h * 0.3 + 28;
      if (title) b.set([60, 64, 72, 0], p);
      else if (inWin) b.set([245, 245, 247, 0], p);
      else b.set([30 + (x * 40) / w, 60 + (y * 60) / h, 110 + (x * 50) / w, 0], p);
      p += 4;
    }
  }
  return b;
}

export function logServer(text: string) {
  return (s: FakeServer) => {
    s.push(enc.encode(text));
  };
}
