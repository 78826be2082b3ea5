import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FELL_BEHIND, OUTPUT_COALESCE_BYTES, OUTPUT_COALESCE_MS, RingBuffer, SerialHub } from './serial-hub.js';
import type { SerialViewer } from './serial-hub.js';

const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

describe('RingBuffer', () => {
  it('is empty at first', () => {
    expect(new RingBuffer(8).snapshot()).toEqual(new Uint8Array(0));
  });

  it('keeps everything while under capacity', () => {
    const r = new RingBuffer(8);
    r.push(bytes('abc'));
    r.push(bytes('de'));
    expect(text(r.snapshot())).toBe('abcde');
  });

  it('wraps around and keeps the newest bytes, oldest first', () => {
    const r = new RingBuffer(8);
    r.push(bytes('abcdef'));
    r.push(bytes('ghij'));
    expect(text(r.snapshot())).toBe('cdefghij');
    r.push(bytes('klm'));
    expect(text(r.snapshot())).toBe('fghijklm');
  });

  it('keeps the last `capacity` bytes of a chunk larger than itself', () => {
    const r = new RingBuffer(4);
    r.push(bytes('xy'));
    r.push(bytes('abcdefgh'));
    expect(text(r.snapshot())).toBe('efgh');
    r.push(bytes('i'));
    expect(text(r.snapshot())).toBe('fghi');
  });

  it('holds exactly a chunk of its own size', () => {
    const r = new RingBuffer(4);
    r.push(bytes('ab'));
    r.push(bytes('wxyz'));
    expect(text(r.snapshot())).toBe('wxyz');
  });

  it('returns a copy that later pushes do not change', () => {
    const r = new RingBuffer(4);
    r.push(bytes('abcd'));
    const snap = r.snapshot();
    r.push(bytes('efgh'));
    expect(text(snap)).toBe('abcd');
  });

  it('agrees with a naive model over many pushes of every size', () => {
    const cap = 13;
    const r = new RingBuffer(cap);
    let all = '';
    let seed = 7;
    for (let i = 0; i < 500; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const len = seed % 30;
      const chunk = Array.from({ length: len }, (_, j) => String.fromCharCode(97 + ((i + j) % 26))).join('');
      r.push(bytes(chunk));
      all += chunk;
      expect(text(r.snapshot())).toBe(all.slice(-cap));
    }
  });
});

/** Records what the hub gives it; `full` makes write() say it cannot take more. */
class RecordingViewer implements SerialViewer {
  received = Buffer.alloc(0);
  closedWith: string | undefined;
  full = false;
  readonly chunkTypes: string[] = [];
  /** Each chunk as it came. */
  readonly chunks: string[] = [];
  private waiters: { until: () => boolean; resolve: () => void }[] = [];

  write(chunk: Uint8Array): boolean {
    this.chunkTypes.push(chunk.constructor.name);
    this.chunks.push(Buffer.from(chunk).toString('latin1'));
    this.received = Buffer.concat([this.received, chunk]);
    this.check();
    return !this.full;
  }
  close(reason: string): void {
    this.closedWith = reason;
    this.check();
  }
  get text(): string {
    return this.received.toString('latin1');
  }
  receivedText(s: string): Promise<void> {
    return this.when(() => this.text.includes(s));
  }
  closed(): Promise<void> {
    return this.when(() => this.closedWith !== undefined);
  }
  private when(until: () => boolean): Promise<void> {
    if (until()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ until, resolve }));
  }
  private check(): void {
    this.waiters = this.waiters.filter((w) => (w.until() ? (w.resolve(), false) : true));
  }
}

/** QEMU's side of a `-chardev socket,server=on`: one client, raw bytes. */
class FakeSerialServer {
  conn: net.Socket | undefined;
  /** Resolves when the client's connection has closed. */
  connClosed: Promise<void> | undefined;
  received = Buffer.alloc(0);
  private onConn: (() => void)[] = [];
  private onReceive: (() => void)[] = [];
  private constructor(readonly server: net.Server) {}

  static async listen(socketPath: string): Promise<FakeSerialServer> {
    const fake = new FakeSerialServer(net.createServer());
    fake.server.on('connection', (c) => {
      fake.conn = c;
      fake.connClosed = new Promise((resolve) => c.on('close', () => resolve()));
      c.on('error', () => {});
      c.on('data', (d: Buffer) => {
        fake.received = Buffer.concat([fake.received, d]);
        for (const f of fake.onReceive.splice(0)) f();
      });
      for (const f of fake.onConn.splice(0)) f();
    });
    await new Promise<void>((resolve) => fake.server.listen(socketPath, resolve));
    return fake;
  }
  connected(): Promise<net.Socket> {
    if (this.conn) return Promise.resolve(this.conn);
    return new Promise((resolve) => this.onConn.push(() => resolve(this.conn!)));
  }
  async guestWrites(data: string | Uint8Array): Promise<void> {
    const c = await this.connected();
    await new Promise<void>((resolve, reject) => c.write(data, (err) => (err ? reject(err) : resolve())));
  }
  async receivedText(s: string): Promise<void> {
    while (!this.received.toString('latin1').includes(s)) await new Promise<void>((r) => this.onReceive.push(r));
  }
  close(): Promise<void> {
    this.conn?.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('SerialHub', () => {
  let dir: string;
  let sock: string;
  let qemu: FakeSerialServer;
  let hub: SerialHub;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-serial-'));
    sock = path.join(dir, 'serial.sock');
    qemu = await FakeSerialServer.listen(sock);
    hub = new SerialHub(sock);
  });
  afterEach(async () => {
    hub.close();
    await qemu.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives the guest output to every viewer', async () => {
    await hub.connect();
    const a = new RecordingViewer();
    const b = new RecordingViewer();
    hub.attach(a);
    hub.attach(b);
    await qemu.guestWrites('login: ');
    await Promise.all([a.receivedText('login: '), b.receivedText('login: ')]);
    expect(a.text).toBe('login: ');
    expect(b.text).toBe('login: ');
    expect(hub.viewerCount).toBe(2);
  });

  it('passes bytes on as Uint8Array, unchanged even when they are not UTF-8', async () => {
    await hub.connect();
    const v = new RecordingViewer();
    hub.attach(v);
    const raw = new Uint8Array([0xff, 0x00, 0xc3, 0x1b, 0x5b, 0x6d, 0x21]);
    await qemu.guestWrites(raw);
    await v.receivedText('!');
    expect(new Uint8Array(v.received)).toEqual(raw);
    expect(v.chunkTypes.every((t) => t === 'Uint8Array')).toBe(true);
  });

  it('gives a late viewer the recent output first, then what follows', async () => {
    await hub.connect();
    const early = new RecordingViewer();
    hub.attach(early);
    await qemu.guestWrites('boot log\n');
    await early.receivedText('boot log\n');

    const late = new RecordingViewer();
    hub.attach(late);
    expect(late.text).toBe('boot log\n');
    await qemu.guestWrites('login: ');
    await late.receivedText('login: ');
    expect(late.text).toBe('boot log\nlogin: ');
  });

  it('gives no replay to a viewer that asks for none', async () => {
    await hub.connect();
    const early = new RecordingViewer();
    hub.attach(early);
    await qemu.guestWrites('old');
    await early.receivedText('old');
    const v = new RecordingViewer();
    hub.attach(v, { replay: false });
    await qemu.guestWrites('new');
    await v.receivedText('new');
    expect(v.text).toBe('new');
  });

  it('keeps only the newest ringBytes of history', async () => {
    hub = new SerialHub(sock, { ringBytes: 4 });
    await hub.connect();
    const v = new RecordingViewer();
    hub.attach(v);
    await qemu.guestWrites('abcdefgh');
    await v.receivedText('abcdefgh');
    expect(text(hub.history())).toBe('efgh');
  });

  it('sends input from any viewer to the guest', async () => {
    await hub.connect();
    const a = hub.attach(new RecordingViewer());
    const b = hub.attach(new RecordingViewer());
    a.input(bytes('root\r'));
    await qemu.receivedText('root\r');
    b.input(bytes('ls\r'));
    await qemu.receivedText('ls\r');
    expect(qemu.received.toString('latin1')).toBe('root\rls\r');
  });

  it('says input is full while QEMU does not read it (a paused guest), and tells every waiting viewer at the drain', async () => {
    await hub.connect();
    const conn = await qemu.connected();
    // QEMU's chardev stops reading its socket while the guest's UART takes no more bytes.
    conn.pause();
    const a = hub.attach(new RecordingViewer());
    const b = hub.attach(new RecordingViewer());
    let drainedA = 0;
    let drainedB = 0;
    a.onInputDrain(() => drainedA++);
    b.onInputDrain(() => drainedB++);
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    let sent = 0;
    // Before the fix, input ignored write() returning false: the driver buffered all of it.
    for (let accepted = true; accepted; sent += chunk.byteLength) {
      accepted = a.input(chunk);
      expect(sent).toBeLessThan(32 * 1024 * 1024);
    }
    // The socket is full for every viewer, not just the one that filled it.
    expect(b.input(bytes('b'))).toBe(false);
    sent += 1;
    await new Promise((r) => setTimeout(r, 20));
    expect([drainedA, drainedB]).toEqual([0, 0]);

    conn.resume();
    await vi.waitFor(() => expect([drainedA, drainedB]).toEqual([1, 1]), { timeout: 5000 });
    await vi.waitFor(() => expect(qemu.received.byteLength).toBe(sent), { timeout: 5000 });
    expect(qemu.received.at(-1)).toBe(0x62);
    expect(a.input(bytes('c'))).toBe(true);
  });

  it('forgets the drain listener of a viewer that detached while waiting', async () => {
    await hub.connect();
    const conn = await qemu.connected();
    conn.pause();
    const a = hub.attach(new RecordingViewer());
    let drained = 0;
    a.onInputDrain(() => drained++);
    const chunk = new Uint8Array(64 * 1024);
    for (let i = 0; i < 512 && a.input(chunk); i++);
    a.detach();
    conn.resume();
    const b = hub.attach(new RecordingViewer());
    await vi.waitFor(() => expect(b.input(bytes('x'))).toBe(true), { timeout: 5000 });
    expect(drained).toBe(0);
  });

  it('counts the bytes it receives and reports them to onData', async () => {
    const seen: number[] = [];
    hub = new SerialHub(sock, { onData: (n) => seen.push(n) });
    await hub.connect();
    const v = new RecordingViewer();
    hub.attach(v);
    await qemu.guestWrites('12345');
    await v.receivedText('12345');
    expect(hub.bytesReceived).toBe(5);
    expect(seen.reduce((x, y) => x + y, 0)).toBe(5);
  });

  it('stops giving output to a viewer that detached', async () => {
    await hub.connect();
    const gone = new RecordingViewer();
    const stays = new RecordingViewer();
    hub.attach(gone).detach();
    hub.attach(stays);
    await qemu.guestWrites('after');
    await stays.receivedText('after');
    expect(gone.text).toBe('');
    expect(gone.closedWith).toBeUndefined();
    expect(hub.viewerCount).toBe(1);
  });

  it('closes every viewer with a reason when QEMU closes the socket', async () => {
    await hub.connect();
    const a = new RecordingViewer();
    const b = new RecordingViewer();
    hub.attach(a);
    hub.attach(b);
    (await qemu.connected()).end();
    await Promise.all([a.closed(), b.closed()]);
    expect(a.closedWith).toBe('The VM stopped.');
    expect(b.closedWith).toBe('The VM stopped.');
    expect(hub.viewerCount).toBe(0);
  });

  it('closes a viewer that attaches after the VM stopped', async () => {
    await hub.connect();
    hub.close('The VM stopped.');
    const v = new RecordingViewer();
    const att = hub.attach(v);
    expect(v.closedWith).toBe('The VM is not running.');
    expect(() => att.input(bytes('x'))).not.toThrow();
  });

  it('disconnects a viewer whose queue outgrows its budget, tells its owner, and the others keep receiving', async () => {
    let dropped = 0;
    hub = new SerialHub(sock, { viewerBudgetBytes: 64 * 1024, ringBytes: 1024, onViewerDropped: () => dropped++ });
    await hub.connect();
    const slow = new RecordingViewer();
    slow.full = true;
    const fast = new RecordingViewer();
    hub.attach(slow);
    hub.attach(fast);
    // QEMU's serial chardev writes a few bytes at a time: the budget counts memory, not payload,
    // so ~60 KiB of 9-byte chunks are enough to go over 64 KiB.
    const conn = await qemu.connected();
    for (let i = 0; i < 20_000 && slow.closedWith === undefined; i++) {
      conn.write('123456789');
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    await slow.closed();
    expect(slow.closedWith).toBe(FELL_BEHIND);
    expect(hub.viewerCount).toBe(1);
    expect(dropped, 'the owner is told (the VM log says it)').toBe(1);

    await qemu.guestWrites('second');
    await fast.receivedText('second');
    expect(slow.text).not.toContain('second');
    expect(fast.closedWith).toBeUndefined();
  });

  it('holds output for a viewer that is briefly full and delivers it, in order, when it resumes', async () => {
    await hub.connect();
    const v = new RecordingViewer();
    v.full = true;
    const att = hub.attach(v);
    await qemu.guestWrites('one ');
    await v.receivedText('one ');
    await qemu.guestWrites('two ');
    await qemu.guestWrites('three');
    await new Promise((r) => setTimeout(r, 20));
    expect(v.text).toBe('one ');
    v.full = false;
    att.resume();
    expect(v.text).toBe('one two three');
    expect(v.closedWith).toBeUndefined();
  });

  it('gives an opened viewer the history and live output once its reader attaches', async () => {
    await hub.connect();
    const first = new RecordingViewer();
    hub.attach(first);
    await qemu.guestWrites('history ');
    await first.receivedText('history ');
    const s = hub.open();
    await qemu.guestWrites('live');
    await first.receivedText('live');
    const v = new RecordingViewer();
    s.output.attach({ write: (c) => v.write(c), end: (r) => v.close(r) });
    expect(v.text).toBe('history live');
    s.close();
    expect(hub.viewerCount).toBe(1);
  });

  it('ends a viewer after the output already queued for it when the VM stops', async () => {
    await hub.connect();
    const s = hub.open({ replay: false });
    await qemu.guestWrites('bye');
    await new Promise((r) => setTimeout(r, 20));
    hub.close('The VM stopped.');
    const v = new RecordingViewer();
    s.output.attach({ write: (c) => v.write(c), end: (r) => v.close(r) });
    expect(v.text).toBe('bye');
    expect(v.closedWith).toBe('The VM stopped.');
  });

  it('waits for QEMU to create the socket', async () => {
    await qemu.close();
    const connecting = hub.connect(10_000);
    // A connect attempt fails while no socket exists; the hub retries until QEMU listens.
    qemu = await FakeSerialServer.listen(sock);
    await connecting;
    await qemu.connected();
  });

  // Was a bug (fixed): serial-hub.ts SerialHub.connect: close() while a connect attempt is in flight does not
  // stop it; the attempt then succeeds, keeps a live connection (QEMU's socket chardev serves
  // only one client) and goes on filling the ring buffer of a closed hub.
  it('drops a connection that completes after the hub was closed', async () => {
    let gotData!: () => void;
    const dataArrived = new Promise<'data'>((resolve) => (gotData = () => resolve('data')));
    hub = new SerialHub(sock, { onData: () => gotData() });
    const connecting = hub.connect().catch(() => {});
    hub.close('The VM stopped.');
    await connecting;
    const conn = await qemu.connected();
    conn.write('late output');
    // Fixed: the hub hangs up. Buggy: the hub reads the output.
    const outcome = await Promise.race([qemu.connClosed!.then(() => 'closed' as const), dataArrived]);
    expect(outcome).toBe('closed');
  });

  // Was a bug (fixed): a flooding guest reached the viewers in QEMU's ~9-byte chunks, each a
  // write per viewer (and a frame in `vmdesk web`, a message in the page), which cost the driver
  // and the viewers most of a core that a TCG guest then lacked (issue 22).
  describe('output that follows other output closely', () => {
    // Fake setTimeout only (the socket I/O is real): the hub holds output until the test moves
    // the clock, so what the guest writes meanwhile is held whatever the load.
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    });
    afterEach(() => {
      vi.useRealTimers();
    });
    /** Until the hub has read `n` bytes (not vi.waitFor: it moves fake clocks). */
    const readBy = async (n: number) => {
      while (hub.bytesReceived < n) await new Promise((r) => setImmediate(r));
      expect(hub.bytesReceived).toBe(n);
    };

    it('gives the first output after a quiet spell at once, and what follows within OUTPUT_COALESCE_MS as one chunk', async () => {
      await hub.connect();
      const v = new RecordingViewer();
      hub.attach(v);
      await qemu.guestWrites('a');
      await v.receivedText('a');
      for (const [i, c] of ['b', 'c', 'd'].entries()) {
        await qemu.guestWrites(c);
        await readBy(2 + i);
      }
      expect(v.text).toBe('a');
      vi.advanceTimersByTime(OUTPUT_COALESCE_MS);
      expect(v.chunks).toEqual(['a', 'bcd']);
      // Output goes on: held again, for the same time.
      await qemu.guestWrites('e');
      await readBy(5);
      expect(v.text).toBe('abcd');
      vi.advanceTimersByTime(OUTPUT_COALESCE_MS);
      expect(v.chunks).toEqual(['a', 'bcd', 'e']);
      // A quiet spell: the next output goes out at once.
      vi.advanceTimersByTime(OUTPUT_COALESCE_MS);
      await qemu.guestWrites('f');
      await v.receivedText('abcdef');
    });

    it('never holds a large read back (bulk output keeps its speed), and keeps the order', async () => {
      await hub.connect();
      const v = new RecordingViewer();
      hub.attach(v);
      await qemu.guestWrites('a');
      await v.receivedText('a');
      await qemu.guestWrites('b');
      await readBy(2);
      const bulk = 'x'.repeat(OUTPUT_COALESCE_BYTES * 4);
      await qemu.guestWrites(bulk);
      // However the kernel splits it, every read is either large (given at once) or fills the held bytes.
      await readBy(2 + bulk.length);
      // With the clock stopped, no more than what the hub may hold is still held back.
      expect(v.text.length).toBeGreaterThanOrEqual(2 + bulk.length - OUTPUT_COALESCE_BYTES);
      vi.advanceTimersByTime(OUTPUT_COALESCE_MS);
      expect(v.text).toBe('ab' + bulk);
    });

    it('gives what it holds before ending the viewers when the VM stops', async () => {
      await hub.connect();
      const v = new RecordingViewer();
      hub.attach(v);
      await qemu.guestWrites('a');
      await v.receivedText('a');
      await qemu.guestWrites('bye');
      await readBy(4);
      hub.close('The VM stopped.');
      expect(v.text).toBe('abye');
      expect(v.closedWith).toBe('The VM stopped.');
      expect(vi.getTimerCount()).toBe(0);
    });

    it('gives a viewer that opens while output is held the history, then the held output, once each', async () => {
      await hub.connect();
      const early = new RecordingViewer();
      hub.attach(early);
      await qemu.guestWrites('a');
      await early.receivedText('a');
      await qemu.guestWrites('b');
      await readBy(2);
      const late = new RecordingViewer();
      hub.attach(late);
      vi.advanceTimersByTime(OUTPUT_COALESCE_MS);
      expect(late.text).toBe('ab');
      expect(early.text).toBe('ab');
    });
  });

  it('gives up when the socket never appears', async () => {
    await expect(new SerialHub(path.join(dir, 'missing.sock')).connect(0)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
