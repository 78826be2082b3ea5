/**
 * VmdeskApi over the web wire protocol of `vmdesk web` (see WEB_PATHS in common/api.ts): one
 * `/api` WebSocket for calls and events that reconnects with backoff and re-subscribes, and one
 * `/stream` WebSocket per stream.
 */
import {
  STREAM_CLOSE,
  WEB_PATHS,
  type ConnectionState,
  type StreamChannel,
  type VmdeskApi,
} from '../../main/common/api.js';
import type {
  CallName,
  CallParams,
  CallResults,
  ContractEvents,
  EventName,
  StreamName,
  StreamParams,
} from '../../main/common/contract.js';
import { VmdeskError, type SerializedError } from '../../main/common/errors.js';
import { xhrUpload, type IsoUploader, type UploadHandle, type UploadProgress } from './file-intake.js';
import { WebStreamChannel } from './web-stream.js';

type EventListener = <E extends EventName>(name: E, data: ContractEvents[E]) => void;
interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  /** The request, while it waits for the socket being opened; gone once sent. */
  frame?: string;
  /** Ends that wait (OUTBOX_WAIT_MS). */
  timer?: ReturnType<typeof setTimeout>;
}

/** WebSocket's readyState numbers (the global WebSocket is not there under Node, in tests). */
const CONNECTING = 0;
const OPEN = 1;

/** How long a call made while the socket is being opened waits for it, in ms; then it is not sent. */
export const OUTBOX_WAIT_MS = 10_000;

/** The part of a browser WebSocket that WebApi uses (tests pass a typed fake). */
export interface ApiSocket {
  readonly readyState: number;
  send(frame: string): void;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent<string>) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
}

/** A call that never left the page: safe to repeat, nothing happened. */
const notSent = () =>
  new VmdeskError('cancelled', 'Not connected to vmdesk, so this was not sent. Try again once the connection is back.');

/** Reconnect delays in ms: 250, 500, 1000 ... capped at 8 s, with ±20 % jitter so many tabs
 * do not hammer a restarting server in step. */
export function reconnectDelay(attempt: number, random = Math.random): number {
  const base = Math.min(8000, 250 * 2 ** Math.min(attempt, 5));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** The token after `#token=` in the page URL (the hash never reaches the server's logs). */
export function tokenFromHash(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const token = params.get('token');
  return token && token.length > 0 ? token : null;
}

export interface PageLocation {
  protocol: string;
  host: string;
}

/**
 * A call is sent at once on an open socket. On a socket being opened (the first one, or a
 * reconnect attempt) it waits, at most OUTBOX_WAIT_MS, and is sent when the socket opens. Its
 * promise is rejected, and the request dropped for good, when that wait ends or the socket closes
 * first: a call the page reported as failed must never run later (issue 20). With no socket being
 * opened (closing, waiting to retry, refused) a call is rejected at once.
 */
export class WebApi implements VmdeskApi, IsoUploader {
  private ws: ApiSocket | null = null;
  private state: ConnectionState = 'connecting';
  private nextId = 1;
  private attempt = 0;
  /** Calls waiting for an answer or, with a `frame`, for the socket to open (in call order). */
  private readonly pending = new Map<number, Pending>();
  private readonly eventListeners = new Set<EventListener>();
  private readonly connectionListeners = new Set<(s: ConnectionState) => void>();

  constructor(
    private readonly token: string,
    private readonly page: PageLocation,
    private readonly openSocket: (url: string) => ApiSocket = (url) => new WebSocket(url),
  ) {
    this.connect();
  }

  call<C extends CallName>(method: C, params: CallParams<C>): Promise<CallResults[C]> {
    const id = this.nextId++;
    const frame = JSON.stringify({ id, method, params });
    return new Promise<CallResults[C]>((resolve, reject) => {
      const p: Pending = { resolve: resolve as (v: unknown) => void, reject };
      const ws = this.ws;
      if (ws?.readyState === OPEN) {
        this.pending.set(id, p);
        ws.send(frame);
      } else if (ws?.readyState === CONNECTING) {
        p.frame = frame;
        p.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(notSent());
        }, OUTBOX_WAIT_MS);
        this.pending.set(id, p);
      } else {
        reject(notSent());
      }
    });
  }

  onEvent(listener: EventListener): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Tells the current state at once, then every change. */
  onConnection(listener: (state: ConnectionState) => void): () => void {
    this.connectionListeners.add(listener);
    listener(this.state);
    return () => this.connectionListeners.delete(listener);
  }

  openStream<S extends StreamName>(name: S, params: StreamParams<S>): StreamChannel {
    // encodeURIComponent, not URLSearchParams: "+" for a space is not decoded by every server.
    const query = `name=${encodeURIComponent(name)}&params=${encodeURIComponent(JSON.stringify(params))}`;
    return new WebStreamChannel(this.url(WEB_PATHS.stream, query));
  }

  /** Into the ISO library of the machine running vmdesk web (see serveUpload in web-server.ts). */
  uploadIso(file: File, onProgress: (p: UploadProgress) => void): UploadHandle {
    const scheme = this.page.protocol === 'https:' ? 'https' : 'http';
    const url = `${scheme}://${this.page.host}${WEB_PATHS.upload}?token=${encodeURIComponent(this.token)}&name=${encodeURIComponent(file.name)}`;
    return xhrUpload(url, file, onProgress);
  }

  private url(path: string, query = ''): string {
    const scheme = this.page.protocol === 'https:' ? 'wss' : 'ws';
    return `${scheme}://${this.page.host}${path}?token=${encodeURIComponent(this.token)}${query ? `&${query}` : ''}`;
  }

  private setState(state: ConnectionState): void {
    if (state === this.state) return;
    this.state = state;
    for (const l of this.connectionListeners) l(state);
  }

  private connect(): void {
    const ws = this.openSocket(this.url(WEB_PATHS.api));
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      // Events flow only to subscribed connections: subscribe again on every new socket.
      ws.send(JSON.stringify({ id: this.nextId++, subscribe: true }));
      for (const p of this.pending.values()) {
        if (p.frame === undefined) continue;
        clearTimeout(p.timer);
        ws.send(p.frame);
        delete p.frame;
      }
      this.setState('open');
    };
    ws.onmessage = (ev: MessageEvent<string>) => this.receive(ev.data);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      // A request in flight may or may not have run: the caller decides, we do not resend.
      const lost = new VmdeskError(
        'cancelled',
        'The connection to vmdesk was lost before it answered. Check the VM and try again.',
      );
      // Dropped with their promises: whatever waited for this socket is never sent later.
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(p.frame === undefined ? lost : notSent());
      }
      this.pending.clear();
      if (ev.code === STREAM_CLOSE.unauthorized) {
        this.setState('closed');
        return;
      }
      this.setState('connecting');
      setTimeout(() => this.connect(), reconnectDelay(this.attempt++));
    };
  }

  private receive(text: string): void {
    let msg: { id?: unknown; result?: unknown; error?: SerializedError; event?: unknown; data?: unknown };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      console.warn('vmdesk: ignoring a frame that is not JSON');
      return;
    }
    if (typeof msg.event === 'string') {
      for (const l of this.eventListeners) l(msg.event as EventName, msg.data as never);
      return;
    }
    const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
    if (!p) {
      if (msg.error) console.warn('vmdesk:', msg.error.message);
      return;
    }
    this.pending.delete(msg.id as number);
    if (msg.error) p.reject(VmdeskError.fromJSON(msg.error));
    else p.resolve(msg.result);
  }
}
