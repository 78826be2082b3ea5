/**
 * The only module that imports noVNC. It gets a StreamChannel (not a URL): noVNC's Websock
 * accepts any object with WebSocket's send, close, binaryType, the on- handlers, protocol and readyState.
 */
import RFB from '@novnc/novnc';
import type { StreamChannel, StreamCloseEvent } from '../../../main/common/api.js';

export interface VncView {
  setScaleViewport(on: boolean): void;
  sendCtrlAltDel(): void;
  /** The current frame as PNG, or null before the first frame. */
  toPng(): Promise<Blob | null>;
  focus(): void;
  disconnect(): void;
}

export interface VncViewOptions {
  scaleViewport: boolean;
  onConnect(): void;
  /** Once per view: the channel's close reason and code (e.g. 1000 "The VM stopped."). */
  onDisconnect(reason: string, code: number): void;
}

/**
 * Sees the close event before noVNC does (noVNC's "disconnect" event carries no reason). The
 * accessors are on the prototype, where noVNC's property check looks.
 */
class ObservedChannel implements StreamChannel {
  private closeHandler: ((ev: StreamCloseEvent) => void) | null = null;

  constructor(
    private readonly inner: StreamChannel,
    onClosed: (ev: StreamCloseEvent) => void,
  ) {
    inner.onclose = (ev) => {
      onClosed(ev);
      this.closeHandler?.(ev);
    };
  }

  get binaryType() {
    return this.inner.binaryType;
  }
  set binaryType(t) {
    this.inner.binaryType = t;
  }
  get protocol() {
    return this.inner.protocol;
  }
  get readyState() {
    return this.inner.readyState;
  }
  get onopen() {
    return this.inner.onopen;
  }
  set onopen(h) {
    this.inner.onopen = h;
  }
  get onmessage() {
    return this.inner.onmessage;
  }
  set onmessage(h) {
    this.inner.onmessage = h;
  }
  get onerror() {
    return this.inner.onerror;
  }
  set onerror(h) {
    this.inner.onerror = h;
  }
  get onclose() {
    return this.closeHandler;
  }
  set onclose(h) {
    this.closeHandler = h;
  }
  send(data: ArrayBuffer | ArrayBufferView | string): void {
    this.inner.send(data);
  }
  close(code?: number, reason?: string): void {
    this.inner.close(code, reason);
  }
}

export function createVncView(target: HTMLElement, channel: StreamChannel, opts: VncViewOptions): VncView {
  let reason = '';
  let code = 1006;
  let ended = false;
  const rfb = new RFB(
    target,
    new ObservedChannel(channel, (ev) => {
      reason = ev.reason;
      code = ev.code;
    }),
    { shared: true },
  );
  rfb.scaleViewport = opts.scaleViewport;
  rfb.focusOnClick = true;
  rfb.background = 'transparent';
  rfb.addEventListener('connect', () => opts.onConnect());
  rfb.addEventListener('disconnect', () => {
    if (ended) return;
    ended = true;
    opts.onDisconnect(reason || 'The screen connection closed.', code);
  });
  return {
    setScaleViewport: (on) => {
      rfb.scaleViewport = on;
    },
    sendCtrlAltDel: () => rfb.sendCtrlAltDel(),
    toPng: () =>
      new Promise((resolve) => {
        try {
          rfb.toBlob(resolve, 'image/png');
        } catch {
          resolve(null);
        }
      }),
    focus: () => rfb.focus({ preventScroll: true }),
    disconnect: () => {
      ended = true;
      try {
        rfb.disconnect();
      } catch {
        /* already disconnected */
      }
    },
  };
}
