import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OUTBOX_WAIT_MS, reconnectDelay, tokenFromHash, WebApi, type ApiSocket } from './web-api.js';

describe('the web api', () => {
  it('reads the token from the page hash', () => {
    expect(tokenFromHash('#token=abc%2Fdef')).toBe('abc/def');
    expect(tokenFromHash('#demo')).toBeNull();
    expect(tokenFromHash('')).toBeNull();
  });

  it('backs off exponentially up to 8 s, with jitter', () => {
    const mid = () => 0.5;
    expect([0, 1, 2, 3, 4, 5, 9].map((a) => reconnectDelay(a, mid))).toEqual([250, 500, 1000, 2000, 4000, 8000, 8000]);
    expect(reconnectDelay(0, () => 0)).toBe(200);
    expect(reconnectDelay(0, () => 1)).toBe(300);
  });
});

/**
 * A typed fake of the browser's WebSocket. A fake, not `vmdesk web`: a real server cannot be made
 * to leave a socket connecting, or closing, at the moment a call is made (e2e/web-outbox.int.test.ts
 * does the closing case in Chromium). Like the browser's, send() throws unless the socket is open.
 */
class FakeSocket implements ApiSocket {
  readyState = 0;
  readonly sent: { id: number; method?: string; subscribe?: boolean }[] = [];
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent<string>) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;

  send(frame: string): void {
    if (this.readyState !== 1) throw new Error(`send() on a socket in readyState ${this.readyState}`);
    this.sent.push(JSON.parse(frame) as { id: number; method?: string });
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  answer(id: number, result: unknown): void {
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify({ id, result }) }));
  }
  /** The server said goodbye; the page hears of it only at close(). */
  closing(): void {
    this.readyState = 2;
  }
  close(code = 1006): void {
    this.readyState = 3;
    this.onclose?.(Object.assign(new Event('close'), { code, reason: '', wasClean: code !== 1006 }));
  }
  methods(): string[] {
    return this.sent.flatMap((f) => (f.method ? [f.method] : []));
  }
}

/** A promise's outcome so far, read without waiting for it (a call that never settles must not hang the test). */
function outcome(p: Promise<unknown>): { state: string; message: string } {
  const o = { state: 'pending', message: '' };
  p.then(
    () => (o.state = 'resolved'),
    (e: Error) => Object.assign(o, { state: 'rejected', message: e.message }),
  );
  return o;
}
const settle = () => new Promise<void>((r) => queueMicrotask(r));

describe('calls over a connection that comes and goes', () => {
  let sockets: FakeSocket[];
  let api: WebApi;
  const last = () => sockets[sockets.length - 1]!;
  /** Runs the reconnect timer: the next socket is made (and left connecting). */
  const retry = () => {
    const before = sockets.length;
    vi.runOnlyPendingTimers();
    expect(sockets).toHaveLength(before + 1);
    return last();
  };
  const start = (vm: string) => api.call('vm.start', { vm });
  const everySent = () => sockets.flatMap((s) => s.methods());

  beforeEach(() => {
    vi.useFakeTimers();
    sockets = [];
    api = new WebApi('t0ken', { protocol: 'http:', host: '127.0.0.1:8123' }, () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends a call on an open socket and resolves with its answer', async () => {
    last().open();
    const p = api.call('vm.list', {});
    const frame = last().sent.find((f) => f.method === 'vm.list')!;
    last().answer(frame.id, []);
    await expect(p).resolves.toEqual([]);
  });

  it('keeps calls made while the first socket opens, and sends them in order after subscribing', async () => {
    const a = start('a');
    const b = start('b');
    expect(last().sent).toEqual([]);
    last().open();
    expect(last().sent.map((f) => f.subscribe ?? f.method)).toEqual([true, 'vm.start', 'vm.start']);
    last().answer(last().sent[1]!.id, { id: 'a' });
    last().answer(last().sent[2]!.id, { id: 'b' });
    await expect(Promise.all([a, b])).resolves.toEqual([{ id: 'a' }, { id: 'b' }]);
  });

  it('never sends a call whose socket closed before opening: the page is told it was not sent', async () => {
    const o = outcome(start('a'));
    last().close();
    const next = retry();
    next.open();
    expect(everySent()).toEqual([]);
    expect(next.sent.map((f) => f.subscribe ?? f.method)).toEqual([true]);
    await settle();
    expect(o).toEqual({ state: 'rejected', message: expect.stringMatching(/not sent.*try again/i) });
  });

  it('gives up on a call that waited too long for the socket to open, and never sends it', async () => {
    const o = outcome(start('a'));
    vi.advanceTimersByTime(OUTBOX_WAIT_MS);
    await settle();
    expect(o).toEqual({ state: 'rejected', message: expect.stringMatching(/not sent/i) });
    last().open();
    expect(everySent()).toEqual([]);
  });

  it('refuses at once a call made while the socket is closing, and never sends it after a reconnect', async () => {
    last().open();
    last().closing();
    const o = outcome(start('a'));
    await settle();
    expect(o).toEqual({ state: 'rejected', message: expect.stringMatching(/not sent.*try again/i) });
    last().close();
    retry().open();
    expect(everySent()).toEqual([]);
  });

  it('refuses at once a call made while waiting to reconnect, and never sends it', async () => {
    last().open();
    last().close();
    const o = outcome(start('a'));
    await settle();
    expect(o).toEqual({ state: 'rejected', message: expect.stringMatching(/not connected/i) });
    retry().open();
    expect(everySent()).toEqual([]);
  });

  it('rejects a sent call lost with its socket as "check the VM", and does not send it again', async () => {
    last().open();
    const p = start('a');
    last().close();
    await expect(p).rejects.toThrow(/lost before it answered\. Check the VM/);
    retry().open();
    expect(everySent()).toEqual(['vm.start']);
  });

  it('refuses calls at once after the server refused the token, and stops reconnecting', async () => {
    last().close(4401);
    const o = outcome(start('a'));
    await settle();
    expect(o).toEqual({ state: 'rejected', message: expect.stringMatching(/not sent/i) });
    vi.runOnlyPendingTimers();
    expect(sockets).toHaveLength(1);
  });
});
