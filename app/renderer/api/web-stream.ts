/**
 * A contract stream over a WebSocket (`/stream?...`), shaped as a StreamChannel so noVNC can
 * take it in place of a URL and xterm/log views get ArrayBuffers only.
 */
import type { StreamChannel, StreamCloseEvent } from '../../main/common/api.js';

/** A close without a reason from the server: say what it means for the user. */
export function describeAbnormalClose(code: number): string {
  if (code === 1006) return 'Lost the connection to vmdesk.';
  if (code === 1000) return 'The stream ended.';
  return `The connection closed (code ${code}).`;
}

export class WebStreamChannel implements StreamChannel {
  // Own properties (not accessors): noVNC's Websock.attach() checks that these names exist.
  binaryType: 'arraybuffer' | 'blob' = 'arraybuffer';
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: ArrayBuffer }) => void) | null = null;
  onclose: ((ev: StreamCloseEvent) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  private readonly ws: WebSocket;

  constructor(url: string) {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    ws.onopen = (ev) => this.onopen?.(ev);
    ws.onmessage = (ev: MessageEvent<ArrayBuffer | string>) => {
      const data = typeof ev.data === 'string' ? new TextEncoder().encode(ev.data).buffer : ev.data;
      this.onmessage?.({ data });
    };
    ws.onerror = (ev) => this.onerror?.(ev);
    ws.onclose = (ev) =>
      this.onclose?.({ code: ev.code, reason: ev.reason || describeAbnormalClose(ev.code), wasClean: ev.wasClean });
    this.ws = ws;
  }

  get protocol(): string {
    return this.ws.protocol;
  }
  get readyState(): number {
    return this.ws.readyState;
  }

  send(data: ArrayBuffer | ArrayBufferView | string): void {
    // Input typed while the stream is not open has nowhere to go (WebSocket would throw).
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data as ArrayBuffer);
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }
}
