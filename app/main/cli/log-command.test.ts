import { PassThrough } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { FakeStream } from '../consoles/testing/fake-stream.js';
import { followLog } from './log-command.js';

function link() {
  const opened: { name: string; params: unknown; stream: FakeStream }[] = [];
  return {
    opened,
    openStream: async (name: string, params: unknown) => {
      const stream = new FakeStream(name, params);
      opened.push({ name, params, stream });
      return stream;
    },
  };
}

describe('followLog', () => {
  it("prints what the driver's log.tail stream sends and returns its reason when it ends", async () => {
    const l = link();
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => {
      text += d.toString();
    });
    const done = followLog(l, 'web', 'serial', 20, out);
    await vi.waitFor(() => expect(l.opened).toHaveLength(1));
    expect(l.opened[0]).toMatchObject({ name: 'log.tail', params: { vm: 'web', which: 'serial', lines: 20 } });
    l.opened[0]!.stream.emit(new Uint8Array(Buffer.from('line 1\nline 2\n')));
    l.opened[0]!.stream.end('The connection to the driver closed.');
    expect(await done).toBe('The connection to the driver closed.');
    expect(text).toBe('line 1\nline 2\n');
    expect(l.opened[0]!.stream.closed).toBe(1);
  });

  it('stops and closes the stream when aborted (Ctrl+C)', async () => {
    const l = link();
    const stop = new AbortController();
    const done = followLog(l, 'web', 'qemu', 5, new PassThrough(), stop.signal);
    await vi.waitFor(() => expect(l.opened).toHaveLength(1));
    stop.abort();
    expect(await done).toBeUndefined();
    expect(l.opened[0]!.stream.closed).toBe(1);
  });

  it('holds the stream while the terminal is full and goes on when it drains', async () => {
    const l = link();
    const out = new PassThrough({ highWaterMark: 16 });
    const stop = new AbortController();
    void followLog(l, 'web', 'qemu', 5, out, stop.signal);
    await vi.waitFor(() => expect(l.opened).toHaveLength(1));
    const s = l.opened[0]!.stream;
    s.emit(new Uint8Array(64).fill(0x61)); // over the terminal's high-water mark
    s.emit(new Uint8Array(8).fill(0x62));
    expect(s.output.isReaderBlocked).toBe(true);
    expect(s.output.queuedBytes).toBe(8);
    let got = '';
    out.on('data', (d: Buffer) => {
      got += d.toString();
    });
    await vi.waitFor(() => expect(got).toBe('a'.repeat(64) + 'b'.repeat(8)));
    stop.abort();
  });
});
