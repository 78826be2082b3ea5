/**
 * The only module that imports noVNC. It gets a StreamChannel (not a URL): noVNC's Websock
 * accepts any object with WebSocket's send, close, binaryType, the on- handlers, protocol and readyState.
 */
import RFB from '@novnc/novnc';
import type { StreamChannel, StreamCloseEvent } from '../../../main/common/api.js';
import { isReleaseShortcut, RELEASE_ON_UNGRAB, type Key } from './keys.js';

export interface VncView {
  setScaleViewport(on: boolean): void;
  /** Asks the guest for the view's size on every resize (VNC's desktop-size request). */
  setResizeSession(on: boolean): void;
  /** Offers text as the VNC client's clipboard (QEMU hands it to the guest's vdagent); false unless connected. */
  pasteText(text: string): boolean;
  /** One key event to the guest; false (nothing sent) unless connected. */
  sendKey(key: Key, down: boolean): boolean;
  /** The current frame as PNG, or null before the first frame. */
  toPng(): Promise<Blob | null>;
  /** Gives the keyboard to the guest (the screen takes focus). */
  focus(): void;
  /** Gives the keyboard back to the page, releasing any modifier held down in the guest. */
  releaseKeyboard(): void;
  disconnect(): void;
}

export interface VncViewOptions {
  scaleViewport: boolean;
  resizeSession: boolean;
  /** The guest copied text (QEMU's VNC clipboard message, from the vdagent). */
  onClipboard(text: string): void;
  onConnect(): void;
  /** Once per view: the channel's close reason and code (e.g. 1000 "The VM stopped."). */
  onDisconnect(reason: string, code: number): void;
  /** The screen took (true) or lost (false) the keyboard focus. */
  onKeyboardGrab(grabbed: boolean): void;
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
  rfb.resizeSession = opts.resizeSession;
  rfb.focusOnClick = true;
  rfb.background = 'transparent';
  let connected = false;
  rfb.addEventListener('connect', () => {
    connected = true;
    opts.onConnect();
  });
  rfb.addEventListener('clipboard', (e) => {
    const text = (e as CustomEvent<{ text?: unknown }>).detail?.text;
    if (typeof text === 'string') opts.onClipboard(text);
  });
  const releaseKeyboard = () => {
    // noVNC saw Ctrl and Alt go down; their key-ups will reach whatever has the focus next,
    // not noVNC, so let go of them in the guest now (QEMU ignores the release of a key that is up).
    if (connected) for (const key of RELEASE_ON_UNGRAB) rfb.sendKey(key.keysym, key.code, false);
    rfb.blur();
  };
  // Keyboard focus = the keyboard goes to the guest: noVNC listens for keys on its canvas only.
  const onFocus = (e: FocusEvent) => opts.onKeyboardGrab(e.type === 'focusin');
  // Capture phase on an ancestor of noVNC's canvas: the release shortcut never reaches noVNC,
  // so the guest sees no G.
  const onKeyDown = (e: KeyboardEvent) => {
    if (!isReleaseShortcut(e)) return;
    e.preventDefault();
    e.stopPropagation();
    releaseKeyboard();
  };
  target.addEventListener('focusin', onFocus);
  target.addEventListener('focusout', onFocus);
  target.addEventListener('keydown', onKeyDown, true);
  rfb.addEventListener('disconnect', () => {
    connected = false;
    target.removeEventListener('focusin', onFocus);
    target.removeEventListener('focusout', onFocus);
    target.removeEventListener('keydown', onKeyDown, true);
    opts.onKeyboardGrab(false);
    if (ended) return;
    ended = true;
    opts.onDisconnect(reason || 'The screen connection closed.', code);
  });
  return {
    setScaleViewport: (on) => {
      rfb.scaleViewport = on;
    },
    setResizeSession: (on) => {
      rfb.resizeSession = on;
    },
    pasteText: (text) => {
      if (!connected) return false;
      rfb.clipboardPasteFrom(text);
      return true;
    },
    sendKey: (key, down) => {
      if (!connected) return false;
      rfb.sendKey(key.keysym, key.code, down);
      return true;
    },
    releaseKeyboard,
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
