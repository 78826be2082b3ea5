/**
 * Row 5: the serial bridge. SerialHub (the driver's one connection to QEMU's serial socket,
 * fanned out to viewers) reads from a synthetic source — a separate Node process serving a unix
 * socket that writes N MiB as fast as the socket takes it, standing in for QEMU — and delivers
 * to 1 or 4 viewers. Viewers only count bytes, so this measures the hub (read, ring buffer,
 * fan-out), not a terminal.
 */
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { SerialHub } from '../../app/main/consoles/serial-hub.js';
import type { BenchContext } from './context.js';
import { BenchSandbox, spawnReady } from './sandbox.js';
import { interleave, stopwatch, type Contender, type Figure } from './stats.js';

const PAYLOAD_MIB = 64;
const PAYLOAD_BYTES = PAYLOAD_MIB * 2 ** 20;

/** The source, as a script for `node --input-type=module -e` (the bench bundle is one file). */
const SOURCE = `
import net from 'node:net';
const [sock, total] = [process.argv[1], Number(process.argv[2])];
const chunk = Buffer.alloc(64 * 1024, 0x61);
net.createServer((c) => {
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      if (!c.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return c.once('drain', pump);
    }
    c.end();
  };
  pump();
}).listen(sock, () => console.log('ready'));
`;

/** One run: MB/s (10^6 bytes per second) from connecting until every viewer has every byte. */
async function transfer(sb: BenchSandbox, viewers: number): Promise<number> {
  const sock = path.join(sb.root, 'src.sock');
  const source: ChildProcess = await spawnReady(
    process.execPath,
    ['--input-type=module', '-e', SOURCE, sock, String(PAYLOAD_BYTES)],
    'ready',
  );
  try {
    const hub = new SerialHub(sock);
    let pending = viewers;
    const done = new Promise<void>((resolve, reject) => {
      for (let i = 0; i < viewers; i++) {
        let got = 0;
        hub.attach(
          {
            write: (chunk) => {
              got += chunk.length;
              if (got === PAYLOAD_BYTES && --pending === 0) resolve();
              return true;
            },
            close: (reason) => {
              if (got < PAYLOAD_BYTES) reject(new Error(`viewer closed after ${got} bytes: ${reason}`));
            },
          },
          { replay: false },
        );
      }
    });
    const elapsed = stopwatch();
    await hub.connect();
    await done;
    const ms = elapsed();
    hub.close();
    return PAYLOAD_BYTES / 1e6 / (ms / 1000);
  } finally {
    source.kill('SIGKILL');
  }
}

export async function benchSerial(ctx: BenchContext): Promise<Figure[]> {
  const results: Record<number, number[]> = { 1: [], 4: [] };
  const contenders: Contender[] = [1, 4].map((n) => ({
    name: `serial → ${n} viewer${n > 1 ? 's' : ''}`,
    async run(round: number) {
      const sb = new BenchSandbox();
      try {
        const mbps = await transfer(sb, n);
        if (round >= 0) results[n]!.push(mbps);
      } finally {
        sb.cleanup();
      }
    },
  }));
  await interleave(contenders, ctx.runs, ctx.progress);
  return [1, 4].map((n, i) => {
    const id = `serial.${n}`;
    const label = `serial bridge → ${n} viewer${n > 1 ? 's' : ''} (SerialHub, synthetic source, ${PAYLOAD_MIB} MiB)`;
    const err = contenders[i]!.error;
    return err
      ? { id, label, unit: 'MB/s', samples: results[n]!, absent: 'failed', note: err.message }
      : { id, label, unit: 'MB/s', samples: results[n]! };
  });
}
