import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { STREAM_CLOSE } from '../common/api.js';
import type { PortDown } from './channels.js';
import { pipeStream, routeCall, type PortLike } from './driver-bridge.js';
import { FakeByteChannel, FakeLink, vm } from './testing/fake-link.js';

/** The main side of a port, driven by the test as the page would. */
class TestPort extends EventEmitter implements PortLike {
  readonly posted: PortDown[] = [];
  started = false;
  closed = false;
  postMessage(m: PortDown): void { this.posted.push(structuredClone(m)); }
  start(): void { this.started = true; }
  close(): void { this.closed = true; }
  fromPage(data: unknown): void { this.emit('message', { data }); }
}

describe('routeCall', () => {
  it('answers data, never throws', async () => {
    const link = new FakeLink([vm('web', 'running')]);
    expect(await routeCall(link, 'vm.list', {})).toEqual({ ok: true, result: link.vms });
    expect(await routeCall(link, 42, {})).toEqual({ ok: false, error: { code: 'invalid-argument', message: 'Unknown method 42.' } });
    expect(await routeCall(link, '__proto__', {})).toMatchObject({ ok: false, error: { code: 'invalid-argument' } });
    link.answers.set('host.info', () => { throw new Error('probe crashed'); });
    expect(await routeCall(link, 'host.info', {})).toEqual({ ok: false, error: { code: 'internal', message: 'probe crashed' } });
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
    port.postMessage = (m) => { if (m.t === 'data') sent = m.d; };
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
    await vi.waitFor(() => expect(refused.posted).toEqual([{ t: 'close', code: STREAM_CLOSE.failed, reason: 'socket exploded' }]));

    link.refuseStreams = undefined;
    const port = new TestPort();
    pipeStream(link, { name: 'console.vnc', params: { vm: 'web' } }, port);
    await vi.waitFor(() => expect(link.channels).toHaveLength(1));
    const ch = link.channels[0]!;
    ch.write = () => { throw new Error('EPIPE'); };
    port.fromPage({ t: 'data', d: new Uint8Array([1]) });
    expect(port.posted.at(-1)).toEqual({ t: 'close', code: STREAM_CLOSE.failed, reason: 'EPIPE' });
    expect(ch.closed).toBe(1);
  });

  it('closes a channel that opens after the page already went away', async () => {
    let release!: (ch: FakeByteChannel) => void;
    const link = { openStream: () => new Promise<FakeByteChannel>((r) => { release = r; }) };
    const port = new TestPort();
    pipeStream(link, { name: 'log.tail', params: { vm: 'web', which: 'qemu' } }, port);
    port.emit('close');
    const ch = new FakeByteChannel('log.tail', {});
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
