/**
 * Requests a careless script or a hostile local user sends, against a real driver (its control
 * socket) and a real `vmdesk web` (its /api WebSocket): each is refused with a sentence that says
 * what is wrong, the reply carries the request's id, nothing is written, and the driver goes on
 * answering.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { Sandbox } from './support/cli.js';
import { startWeb, type WebProcess } from './support/web.js';

let s: Sandbox;
let web: WebProcess;
beforeAll(async () => {
  s = new Sandbox();
  await s.startDriver();
  web = await startWeb(s);
});
afterAll(() => s.cleanup());

type Reply = { id: unknown; result?: unknown; error?: { code: string; message: string } };

/** One request line on the driver's own control socket, its reply line. */
function controlCall(line: string): Promise<Reply> {
  const sock = net.connect(path.join(s.env.XDG_RUNTIME_DIR!, 'vmdesk', 'control.sock'));
  return new Promise((resolve, reject) => {
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        sock.destroy();
        resolve(JSON.parse(buf.slice(0, nl)) as Reply);
      }
    });
    sock.on('error', reject);
    sock.write(line + '\n');
  });
}

/** One frame on `vmdesk web`'s /api, as a non-browser client with the token; its reply. */
function webCall(frame: string): Promise<Reply> {
  const token = new URL(web.url).hash.replace('#token=', '');
  const ws = new WebSocket(`ws://127.0.0.1:${web.port}/api?token=${token}`);
  return new Promise((resolve, reject) => {
    ws.on('open', () => ws.send(frame));
    ws.on('message', (d: Buffer) => {
      const msg = JSON.parse(d.toString()) as Reply;
      if (msg.id === undefined) return; // an event
      ws.close();
      resolve(msg);
    });
    ws.on('error', reject);
  });
}

const define = (params: Record<string, unknown>) => ({ name: 'x', memoryMiB: 64, cpus: 1, ...params });
const vmFiles = () => {
  const dir = path.join(s.env.XDG_CONFIG_HOME!, 'vmdesk', 'vms');
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
};

describe('hostile requests against a real driver and vmdesk web', () => {
  // Was a bug: `internal: Maximum call stack size exceeded` with id null (JSON.stringify of the
  // params for the log overflowed), so the caller never got its answer.
  it('answers a vm.define nested 50 000 levels deep with its own id, on both transports', async () => {
    const deep = '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000);
    const params = `{"name":"deep","memoryMiB":64,"cpus":1,"disk":${deep}}`;
    for (const [call, id] of [
      [controlCall, 41],
      [webCall, 'req-42'],
    ] as const) {
      const reply = await call(`{"id":${JSON.stringify(id)},"method":"vm.define","params":${params}}`);
      expect(reply.id).toBe(id);
      expect(reply.error?.code).toBe('invalid-argument');
      expect(reply.error?.message).toMatch(/nested more than 32 levels deep/);
    }
    expect((await controlCall('{"id":1,"method":"vm.list"}')).result).toEqual([]);
  });

  // Was a bug: 9 500 forwards (a 513 KB request) were saved as a 1.2 MB file that, after a driver
  // restart, was `broken` ("too large").
  it('refuses 9 500 port forwards, saying the limit, and writes nothing', async () => {
    const forwards = Array.from({ length: 9500 }, (_, i) => ({ proto: 'tcp', hostPort: 1 + i, guestPort: 22 }));
    const reply = await controlCall(JSON.stringify({ id: 7, method: 'vm.define', params: define({ forwards }) }));
    expect(reply).toMatchObject({ id: 7, error: { code: 'invalid-argument' } });
    expect(reply.error!.message).toMatch(/at most 64 port forwards; this asks for 9500/);
    expect(vmFiles()).toEqual([]);
  });

  // Was a bug: accepted, and failed only at start in QEMU's words.
  it('refuses two forwards on one host port (127.0.0.1:2222 and 0.0.0.0:2222)', async () => {
    const forwards = [
      { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222, guestPort: 22 },
      { proto: 'tcp', hostAddr: '0.0.0.0', hostPort: 2222, guestPort: 80 },
    ];
    const reply = await webCall(JSON.stringify({ id: 8, method: 'vm.define', params: define({ forwards }) }));
    expect(reply).toMatchObject({ id: 8, error: { code: 'invalid-argument' } });
    expect(reply.error!.message).toMatch(/tcp 127.0.0.1:2222 and tcp 0.0.0.0:2222 want the same host port/);
  });

  // Was a bug: accepted; `vmdesk list` showed an invisible name or U+FFFD.
  it.each([
    ['a right-to-left override', '"\\u202e"', /text-direction controls \(U\+202E\)/],
    ['a zero-width space', '"\\u200b"', /invisible characters \(U\+200B/],
    ['a lone surrogate', '"vm\\ud800"', /unpaired UTF-16 surrogate/],
  ])('refuses a name made of %s', async (_what, jsonName, why) => {
    const reply = await controlCall(
      `{"id":9,"method":"vm.define","params":{"name":${jsonName},"memoryMiB":64,"cpus":1}}`,
    );
    expect(reply).toMatchObject({ id: 9, error: { code: 'invalid-argument' } });
    expect(reply.error!.message).toMatch(why);
    expect(vmFiles()).toEqual([]);
  });

  // Was a bug: both were refused "at least 16 MiB" (the wrong reason). JSON's 1e400 is Infinity.
  it.each([
    ['128.5', /Memory must be a whole number of MiB, not 128.5/],
    ['1e400', /Memory must be a finite number of MiB/],
  ])('refuses memory %s with the right reason', async (memory, why) => {
    const reply = await controlCall(
      `{"id":10,"method":"vm.define","params":{"name":"m","memoryMiB":${memory},"cpus":1}}`,
    );
    expect(reply).toMatchObject({ id: 10, error: { code: 'invalid-argument' } });
    expect(reply.error!.message).toMatch(why);
  });

  it('still defines a good VM afterwards, with its name stored in NFC', async () => {
    const reply = await controlCall(
      JSON.stringify({ id: 11, method: 'vm.define', params: define({ name: 'cafe\u0301' }) }),
    );
    expect((reply.result as VmSummary).name).toBe('caf\u00e9');
    expect(vmFiles()).toHaveLength(1);
  });
});
