/**
 * The browser side of the VNC throughput rows (vnc.ts bundles it with esbuild and serves it to
 * headless Chromium): noVNC's own RFB client, as the app's console uses it, counting what it
 * receives. `install` gets noVNC's RFB class and the renderer's WebStreamChannel (the adapter the
 * app hands noVNC for `vmdesk web`) from the bundle's entry, so this file needs no DOM types.
 *
 * A framebuffer update counts once noVNC has decoded all its rectangles (its `_framebufferUpdate`
 * returns true: that is when it asks QEMU for the next one, as it does without continuous
 * updates, which QEMU does not offer). Bytes are the WebSocket payload bytes received.
 */

/** The part of a browser WebSocket used here. */
interface PageSocket {
  binaryType: string;
  addEventListener(type: 'message', listener: (ev: { data: ArrayBuffer | string }) => void): void;
}

interface Rfb {
  addEventListener(type: string, listener: (ev: unknown) => void): void;
  disconnect(): void;
}

type RfbClass = (new (target: unknown, channel: object, options: { shared: boolean }) => Rfb) & {
  prototype: { _framebufferUpdate(): boolean };
};

/** How the page opens the connection: a plain WebSocket (what noVNC makes from a URL), or the
 * app's WebStreamChannel around one. */
export type Adapter = 'websocket' | 'vmdesk';

export interface VncMeasureOptions {
  url: string;
  adapter: Adapter;
  /** Not counted: noVNC's first full update and the guest's loop getting into its stride. */
  warmMs: number;
  windowMs: number;
}

export interface VncMeasurement {
  updates: number;
  bytes: number;
  ms: number;
}

interface PageGlobals {
  document: { getElementById(id: string): unknown };
  WebSocket: new (url: string) => PageSocket;
  vncBench?: { measure(o: VncMeasureOptions): Promise<VncMeasurement> };
}

export function install(RFB: RfbClass, WebStreamChannel: new (url: string) => object): void {
  const g = globalThis as unknown as PageGlobals;
  let updates = 0;
  let bytes = 0;
  const decode = RFB.prototype._framebufferUpdate;
  RFB.prototype._framebufferUpdate = function (this: unknown) {
    const done = decode.call(this);
    if (done) updates++;
    return done;
  };

  const open = (o: VncMeasureOptions): { channel: object; socket: PageSocket } => {
    if (o.adapter === 'websocket') {
      const socket = new g.WebSocket(o.url);
      socket.binaryType = 'arraybuffer';
      return { channel: socket, socket };
    }
    const channel = new WebStreamChannel(o.url);
    // The adapter's socket is a private field: count on it without changing what noVNC sees.
    return { channel, socket: (channel as unknown as { ws: PageSocket }).ws };
  };

  const measure = (o: VncMeasureOptions): Promise<VncMeasurement> =>
    new Promise((resolve, reject) => {
      const { channel, socket } = open(o);
      socket.addEventListener('message', (ev) => {
        bytes += typeof ev.data === 'string' ? ev.data.length : ev.data.byteLength;
      });
      const rfb = new RFB(g.document.getElementById('screen'), channel, { shared: true });
      let result: VncMeasurement | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let why = '';
      rfb.addEventListener('securityfailure', (ev) => {
        why = ` (security failure: ${JSON.stringify((ev as { detail?: unknown }).detail)})`;
      });
      rfb.addEventListener('disconnect', () => {
        if (timer !== undefined) clearTimeout(timer);
        if (result) resolve(result);
        else
          reject(new Error(`noVNC disconnected before the window ended${why} (${o.adapter} ${o.url.split('?')[0]})`));
      });
      rfb.addEventListener('connect', () => {
        timer = setTimeout(() => {
          const u0 = updates;
          const b0 = bytes;
          const t0 = performance.now();
          timer = setTimeout(() => {
            result = { updates: updates - u0, bytes: bytes - b0, ms: performance.now() - t0 };
            rfb.disconnect();
          }, o.windowMs);
        }, o.warmMs);
      });
    });

  g.vncBench = { measure };
}
