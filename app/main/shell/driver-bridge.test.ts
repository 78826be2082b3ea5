import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { STREAM_CLOSE } from '../common/api.js';
import type { ByteStream } from '../consoles/byte-channel.js';
import { SerialHub } from '../consoles/serial-hub.js';
import { FakeStream } from '../consoles/testing/fake-stream.js';
import { PORT_FLOW, type PortDown } from './channels.js';
import { pipeStream, routeCall, type PortLike } from './driver-bridge.js';
import { createMainWorldBridge, type IpcRendererLike } from './preload-bridge.js';
import { FakeMessageChannelMain, FakeMessagePortMain } from './testing/fake-electron.js';
import { FakeLink, vm } from './testing/fake-link.js';

/** The main side of a port, driven by the test as the page would. */
class TestPort extends EventEmitter implements PortLike {
  readonly posted: PortDown[] = [];
  started = false;
  closed = false;
  postMessage(m: PortDown): void {
    this.posted.push(structuredClone(m));
  }
  start(): void {
    this.started = true;
  }
  close(): void {
    this.closed = true;
  }
  fromPage(data: unknown): void {
    this.emit('message', { data });
  }
}

describe('routeCall', () => {
  it('answers data, never throws', async () => {
    const link = new FakeLink([vm('web', 'running')]);
    expect(await routeCall(link, 'vm.list', {})).toEqual({ ok: true, result: link.vms });
    expect(await routeCall(link, 42, {})).toEqual({
      ok: false,
      error: { code: 'invalid-argument', message: 'Unknown method 42.' },
    });
    expect(await routeCall(link, '__proto__', {})).toMatchObject({ ok: false, error: { code: 'invalid-argument' } });
    link.answers.set('host.info', () => {
      throw new Error('probe crashed');
    });
    expect(await routeCall(link, 'host.info', {})).toEqual({
      ok: false,
      error: { code: 'internal', message: 'probe crashed' },
    });
  });
});

describe('routeCall under hostile params (a structured clone from the window)', () => {
  // Found by review: in client mode the link's JSON.stringify ran first and overflowed (internal).
  it('refuses cyclic and deeply nested params before the link sees them', async () => {
    const link = new FakeLink([vm('web', 'running')]);
    const cyclic: Record<string, unknown> = { vm: 'web' };
    cyclic.self = cyclic;
    let deep: unknown = 1;
    for (let i = 0; i < 50_000; i++) deep = { a: deep };
    for (const params of [cyclic, { vm: 'web', x: deep }]) {
      const r = await routeCall(link, 'vm.get', params);
      expect(r).toMatchObject({ ok: false, error: { code: 'invalid-argument' } });
      expect(!r.ok && r.error.message).toMatch(/^Invalid arguments for vm.get: The arguments are nested more than 32/);
    }
    expect(link.calls).toEqual([]);
  });
});

describe('pipeStream', () => {
  it('sends each chunk as a buffer of its own (a pooled view would clone the whole pool)', async () => {
    const link = new FakeLink();
    const port = new TestPort();
    pipeStream(link, { name: 'console.serial', params: { vm: 'web' } }, port);
    await vi.waitFor(() => expect(port.posted).toEqual([{ t: 'open' }]));
    const pool = new Uint8Array(8192).fill(7);
    let sent: Uint8Array | undefined;
    port.postMessage = (m) => {
      if (m.t === 'data') sent = m.d;
    };
    link.channels[0]!.emit(pool.subarray(10, 13));
    expect(sent?.buffer.byteLength).toBe(3);
    expect(port.started).toBe(true);
  });

  it('cuts a long close reason to 123 bytes without splitting a character', async () => {
    const link = new FakeLink();
    const port = new TestPort();
    pipeStream(link, { name: 'console.serial', params: { vm: 'web' } }, port);
    await vi.waitFor(() => expect(link.channels).toHaveLength(1));
    link.channels[0]!.end('é'.repeat(100));
    const close = port.posted.at(-1);
    expect(close).toEqual({ t: 'close', code: STREAM_CLOSE.ended, reason: 'é'.repeat(61) });
    expect(port.closed).toBe(true);
  });

  it('closes with 4500 on an internal error, and when the driver refuses input', async () => {
    const link = new FakeLink();
    link.refuseStreams = new Error('socket exploded');
    const refused = new TestPort();
    pipeStream(link, { name: 'console.vnc', params: { vm: 'web' } }, refused);
    await vi.waitFor(() =>
      expect(refused.posted).toEqual([{ t: 'close', code: STREAM_CLOSE.failed, reason: 'socket exploded' }]),
    );

    link.refuseStreams = undefined;
    const port = new TestPort();
    pipeStream(link, { name: 'console.vnc', params: { vm: 'web' } }, port);
    await vi.waitFor(() => expect(link.channels).toHaveLength(1));
    const ch = link.channels[0]!;
    ch.input = () => {
      throw new Error('EPIPE');
    };
    port.fromPage({ t: 'data', d: new Uint8Array([1]) });
    expect(port.posted.at(-1)).toEqual({ t: 'close', code: STREAM_CLOSE.failed, reason: 'EPIPE' });
    expect(ch.closed).toBe(1);
  });

  it('closes a channel that opens after the page already went away', async () => {
    let release!: (ch: FakeStream) => void;
    const link = {
      openStream: () =>
        new Promise<FakeStream>((r) => {
          release = r;
        }),
    };
    const port = new TestPort();
    pipeStream(link, { name: 'log.tail', params: { vm: 'web', which: 'qemu' } }, port);
    port.emit('close');
    const ch = new FakeStream('log.tail', {});
    await vi.waitFor(() => expect(release).toBeTypeOf('function'));
    release(ch);
    await vi.waitFor(() => expect(ch.closed).toBe(1));
    expect(port.posted).toEqual([]);
  });

  it('ignores malformed messages from the page', async () => {
    const link = new FakeLink();
    const port = new TestPort();
    pipeStream(link, { name: 'console.serial', params: { vm: 'web' } }, port);
    await vi.waitFor(() => expect(link.channels).toHaveLength(1));
    for (const junk of [null, 'text', { t: 'data', d: 'not bytes' }, { t: 'exec' }]) port.fromPage(junk);
    expect(link.channels[0]!.written).toEqual([]);
    expect(port.closed).toBe(false);
  });
});

describe('pipeStream flow control (MessagePorts have no backpressure of their own)', () => {
  const data = (posted: PortDown[]) => posted.reduce((n, m) => n + (m.t === 'data' ? m.d.byteLength : 0), 0);

  it("posts at most a window ahead of the page's acks, and goes on when the page acks", async () => {
    const link = new FakeLink();
    const port = new TestPort();
    pipeStream(link, { name: 'console.serial', params: { vm: 'web' } }, port);
    await vi.waitFor(() => expect(link.channels).toHaveLength(1));
    const ch = link.channels[0]!;
    const chunk = new Uint8Array(4096).fill(1);
    for (let i = 0; i < 200; i++) ch.emit(chunk); // 800 KiB
    const cost = (bytes: number, messages: number) => bytes + messages * PORT_FLOW.messageOverheadBytes;
    const posted = data(port.posted);
    const messages = port.posted.filter((m) => m.t === 'data').length;
    expect(cost(posted, messages)).toBeGreaterThanOrEqual(PORT_FLOW.windowBytes);
    expect(cost(posted, messages)).toBeLessThan(PORT_FLOW.windowBytes + cost(4096, 1));
    expect(ch.output.queuedBytes).toBe(200 * 4096 - posted);
    // Half the window acknowledged is not enough; all of it is.
    port.fromPage({ t: 'ack', bytes: 4096, messages: 1 });
    expect(data(port.posted)).toBe(posted);
    port.fromPage({ t: 'ack', bytes: posted - 4096, messages: messages - 1 });
    expect(data(port.posted)).toBeGreaterThan(posted);
    // Malformed acks are ignored.
    for (const junk of [{ t: 'ack' }, { t: 'ack', bytes: -1.5, messages: 0 }, { t: 'ack', bytes: '1', messages: 1 }])
      port.fromPage(junk);
    expect(port.closed).toBe(false);
  });

  it('keeps the main process bounded when a page stops reading during a serial flood; the page that reads keeps getting output', async () => {
    // QEMU's serial socket, writing 9 bytes at a time as fast as it can.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-bridge-'));
    const sockPath = path.join(dir, 'serial.sock');
    let flooding = true;
    const qemu = net.createServer((c) => {
      c.on('error', () => {});
      const pump = () => {
        for (let i = 0; i < 200 && flooding; i++) c.write('cpuinfo\r\n');
        if (flooding) setImmediate(pump);
      };
      pump();
    });
    await new Promise<void>((r) => qemu.listen(sockPath, r));
    const hub = new SerialHub(sockPath, { ringBytes: 4096, viewerBudgetBytes: 256 * 1024 });
    await hub.connect();
    const opened: ByteStream[] = [];
    const link = {
      openStream: async () => {
        const s = hub.open({ replay: false });
        opened.push(s);
        return s;
      },
    };
    try {
      // The page that reads: the real preload bridge (it acks what it hands the page).
      const ipc: IpcRendererLike = {
        invoke: async () => undefined,
        on: () => undefined,
        removeListener: () => undefined,
        postMessage: (_channel, message, [port]) =>
          pipeStream(link, message as { name: unknown; params: unknown }, new FakeMessagePortMain(port!)),
      };
      const bridge = createMainWorldBridge(ipc, () => new MessageChannel());
      let readerGot = 0;
      bridge.openStream(
        'console.serial',
        { vm: 'web' },
        {
          open: () => {},
          data: (b) => {
            readerGot += b.byteLength;
          },
          close: () => {},
        },
      );

      // The page that stopped reading: its side of the port never takes a message (nor acks).
      const stuck = new FakeMessageChannelMain();
      const posted: PortDown[] = [];
      const post = stuck.port2.postMessage.bind(stuck.port2);
      stuck.port2.postMessage = (m: PortDown) => {
        posted.push(m.t === 'data' ? { t: 'data', d: new Uint8Array(0) } : m);
        if (m.t === 'data') postedBytes += m.d.byteLength;
        post(m);
      };
      let postedBytes = 0;
      pipeStream(link, { name: 'console.serial', params: { vm: 'web' } }, stuck.port2);
      await vi.waitFor(() => expect(opened).toHaveLength(2));
      const stuckStream = opened[1]!;
      let peakQueued = 0;
      await vi.waitFor(
        () => {
          peakQueued = Math.max(peakQueued, stuckStream.output.memoryBytes);
          expect(posted.at(-1)).toEqual({
            t: 'close',
            code: STREAM_CLOSE.failed,
            reason: 'This console fell too far behind the guest output and was disconnected.',
          });
        },
        { timeout: 15_000, interval: 5 },
      );
      // Posted: at most the window (as memory) plus one chunk; queued: at most the viewer budget.
      expect(postedBytes).toBeLessThanOrEqual(PORT_FLOW.windowBytes);
      expect(peakQueued).toBeLessThanOrEqual(256 * 1024);
      expect(hub.viewerCount).toBe(1);
      const before = readerGot;
      await vi.waitFor(() => expect(readerGot).toBeGreaterThan(before + 256 * 1024), { timeout: 15_000 });
    } finally {
      flooding = false;
      hub.close();
      await new Promise<void>((r) => qemu.close(() => r()));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pipeStream input flow control (toward a guest that takes no more)', () => {
  const acks = (posted: PortDown[]) => posted.filter((m) => m.t === 'ack');

  it("acks the page's input once the stream took it, and not while the stream is full", async () => {
    const link = new FakeLink();
    const port = new TestPort();
    pipeStream(link, { name: 'console.serial', params: { vm: 'web' } }, port);
    await vi.waitFor(() => expect(link.channels).toHaveLength(1));
    const ch = link.channels[0]!;
    const piece = new Uint8Array(PORT_FLOW.ackBytes).fill(1);
    port.fromPage({ t: 'data', d: piece });
    expect(acks(port.posted)).toEqual([{ t: 'ack', bytes: piece.byteLength, messages: 1 }]);
    // Keystrokes: acked once there are ackMessages of them.
    for (let i = 0; i < PORT_FLOW.ackMessages - 1; i++) port.fromPage({ t: 'data', d: new Uint8Array([0x61]) });
    expect(acks(port.posted)).toHaveLength(1);
    port.fromPage({ t: 'data', d: new Uint8Array([0x61]) });
    expect(acks(port.posted)).toHaveLength(2);
    expect(acks(port.posted)[1]).toEqual({ t: 'ack', bytes: PORT_FLOW.ackMessages, messages: PORT_FLOW.ackMessages });

    // QEMU stops reading: what the stream took last and what waits behind it are not acked.
    ch.inputFull = true;
    for (let i = 0; i < 8; i++) port.fromPage({ t: 'data', d: piece });
    expect(acks(port.posted)).toHaveLength(2);
    expect(ch.writtenBytes).toBe(piece.byteLength + PORT_FLOW.ackMessages + piece.byteLength);
    ch.drainInput();
    expect(acks(port.posted)).toHaveLength(3);
    expect(acks(port.posted)[2]).toEqual({ t: 'ack', bytes: 8 * piece.byteLength, messages: 8 });
    expect(ch.writtenBytes).toBe(piece.byteLength + PORT_FLOW.ackMessages + 8 * piece.byteLength);
  });

  it('makes the preload hold a paste while the guest takes no input, then delivers all of it in order', async () => {
    const link = new FakeLink();
    let mainPort: FakeMessagePortMain | undefined;
    let postedToMain = 0;
    const ipc: IpcRendererLike = {
      invoke: async () => undefined,
      on: () => undefined,
      removeListener: () => undefined,
      postMessage: (_channel, message, [port]) => {
        mainPort = new FakeMessagePortMain(port!);
        mainPort.prependListener('message', (ev: { data: { t: string; d?: Uint8Array } }) => {
          if (ev.data.t === 'data') postedToMain += ev.data.d!.byteLength;
        });
        pipeStream(link, message as { name: unknown; params: unknown }, mainPort);
      },
    };
    const bridge = createMainWorldBridge(ipc, () => new MessageChannel());
    let opened = false;
    const control = bridge.openStream(
      'console.serial',
      { vm: 'web' },
      { open: () => (opened = true), data: () => {}, close: () => {} },
    );
    await vi.waitFor(() => expect(opened).toBe(true));
    const ch = link.channels[0]!;
    ch.inputFull = true; // a paused guest
    const paste = new Uint8Array(8 * 1024 * 1024);
    for (let i = 0; i < paste.length; i++) paste[i] = i % 251;
    control.send(paste);
    await new Promise((r) => setTimeout(r, 200));
    // The main process got at most a window of it; before the fix, all 8 MiB went to the stream.
    expect(postedToMain).toBeLessThanOrEqual(PORT_FLOW.windowBytes + PORT_FLOW.inputMessageBytes);
    expect(ch.writtenBytes).toBeLessThanOrEqual(PORT_FLOW.inputMessageBytes);
    ch.drainInput();
    await vi.waitFor(() => expect(ch.writtenBytes).toBe(paste.length), { timeout: 10_000 });
    expect(Buffer.concat(ch.written).equals(Buffer.from(paste))).toBe(true);
    control.close();
  });
});
