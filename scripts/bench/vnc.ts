/**
 * Row 6: what the VNC byte proxy (app/main/consoles/vnc-proxy.ts, one unix connection per viewer) adds
 * per message. A synthetic source stands in for QEMU's VNC socket: a separate Node process that
 * echoes every byte. Each run sends 300 small messages (the size of RFB pointer/key events) one
 * at a time and takes the median round trip, once straight to the source and once through the
 * proxy; the figure is the difference.
 */
import net from 'node:net';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { proxyVnc } from '../../app/main/consoles/vnc-proxy.js';
import type { BenchContext } from './context.js';
import { BenchSandbox, spawnReady } from './sandbox.js';
import { interleave, median, type Figure } from './stats.js';

const MESSAGES = 300;
const MESSAGE = new Uint8Array(8).fill(5); // an RFB PointerEvent is 6 bytes, a KeyEvent 8

const ECHO = `
import net from 'node:net';
net.createServer((c) => c.pipe(c)).listen(process.argv[1], () => console.log('ready'));
`;

/** Median round trip in ms: `send` writes one message, `onReply` is called per reply. */
async function roundTrips(send: () => void, setReply: (cb: () => void) => void): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      setReply(resolve);
      send();
    });
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function direct(sock: string): Promise<number> {
  const c = net.createConnection(sock);
  await new Promise((r) => c.once('connect', r));
  let reply: () => void = () => {};
  c.on('data', () => reply());
  try {
    return await roundTrips(
      () => c.write(MESSAGE),
      (cb) => {
        reply = cb;
      },
    );
  } finally {
    c.destroy();
  }
}

async function proxied(sock: string): Promise<number> {
  let reply: () => void = () => {};
  const handle = proxyVnc(sock);
  handle.output.attach({
    write: () => {
      reply();
      return true;
    },
    end: () => {},
  });
  try {
    return await roundTrips(
      () => handle.input(MESSAGE),
      (cb) => {
        reply = cb;
      },
    );
  } finally {
    handle.close();
  }
}

export async function benchVnc(ctx: BenchContext): Promise<Figure[]> {
  const added: number[] = [];
  const directs: number[] = [];
  const proxieds: number[] = [];
  const id = 'vnc.latency';
  const label = 'VNC proxy added latency per message (p50; synthetic echo source)';
  const sb = new BenchSandbox();
  const sock = path.join(sb.root, 'vnc.sock');
  let source: ChildProcess | undefined;
  try {
    source = await spawnReady(process.execPath, ['--input-type=module', '-e', ECHO, sock], 'ready');
    let last = 0;
    await interleave(
      [
        {
          name: 'vnc direct',
          async run(round: number) {
            last = await direct(sock);
            if (round >= 0) directs.push(last);
          },
        },
        // Unclamped: noise can make it slightly negative, which says the proxy adds nothing measurable.
        {
          name: 'vnc via proxy',
          async run(round: number) {
            const p = await proxied(sock);
            if (round >= 0) {
              proxieds.push(p);
              added.push(p - last);
            }
          },
        },
      ],
      ctx.runs,
      ctx.progress,
    );
    return [
      {
        id: 'vnc.rtt.direct',
        label: 'VNC message round trip, straight to the source (p50 of 300)',
        unit: 'ms',
        samples: directs,
      },
      {
        id: 'vnc.rtt.proxy',
        label: 'VNC message round trip, through the proxy (p50 of 300)',
        unit: 'ms',
        samples: proxieds,
      },
      { id, label, unit: 'ms', samples: added, target: { text: '< 1 ms p50' } },
    ];
  } catch (err) {
    return [
      {
        id,
        label,
        unit: 'ms',
        samples: added,
        absent: 'failed',
        note: (err as Error).message,
        target: { text: '< 1 ms p50' },
      },
    ];
  } finally {
    source?.kill('SIGKILL');
    sb.cleanup();
  }
}
