/**
 * The baseline: QEMU driven by hand with the least code that does the same job as vmdesk's start
 * (spawn → QMP greeting → qmp_capabilities → cont) and force off (SIGTERM → exit). It polls for
 * the socket every millisecond, so it is close to the fastest anything can be with this argv;
 * vmdesk's ratio against it is therefore conservative.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { sleep } from './stats.js';

export interface RawQemu {
  child: ChildProcess;
  /** ms since the spawn call at which each step completed. */
  phases: { spawned: number; connected: number; greeting: number; capabilities: number; cont: number };
  socket: net.Socket;
}

const RETRYABLE = new Set(['ENOENT', 'ECONNREFUSED']);

async function connectWithRetry(socketPath: string, child: ChildProcess, timeoutMs = 30_000): Promise<net.Socket> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const s = net.createConnection(socketPath);
        s.once('connect', () => {
          s.off('error', reject);
          resolve(s);
        });
        s.once('error', reject);
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!RETRYABLE.has(code) || child.exitCode !== null || performance.now() > deadline) throw err;
      await sleep(1);
    }
  }
}

/** Reads QMP lines, skipping events; each call resolves with the next non-event message. */
function qmpReader(socket: net.Socket): () => Promise<Record<string, unknown>> {
  let buf = '';
  const messages: Record<string, unknown>[] = [];
  let waiter: ((m: Record<string, unknown>) => void) | undefined;
  let failure: Error | undefined;
  let failWaiter: ((e: Error) => void) | undefined;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
      buf = buf.slice(nl + 1);
      if ('event' in msg) continue;
      if (waiter) {
        const w = waiter;
        waiter = undefined;
        w(msg);
      } else messages.push(msg);
    }
  });
  socket.on('close', () => {
    failure = new Error('QMP socket closed');
    failWaiter?.(failure);
  });
  socket.on('error', () => {});
  return () =>
    new Promise((resolve, reject) => {
      const queued = messages.shift();
      if (queued) return resolve(queued);
      if (failure) return reject(failure);
      waiter = resolve;
      failWaiter = reject;
    });
}

export async function startRawQemu(
  binary: string,
  argv: string[],
  logFile: string,
  qmpSocket: string,
): Promise<RawQemu> {
  const t0 = performance.now();
  const at = () => performance.now() - t0;
  const fd = fs.openSync(logFile, 'a', 0o600);
  const child = spawn(binary, argv, { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const spawned = at();
  try {
    const socket = await connectWithRetry(qmpSocket, child);
    const connected = at();
    const next = qmpReader(socket);
    const expect = async (key: string) => {
      const m = await next();
      if (!(key in m)) throw new Error(`QMP: expected ${key}, got ${JSON.stringify(m).slice(0, 200)}`);
    };
    await expect('QMP');
    const greeting = at();
    socket.write('{"execute":"qmp_capabilities"}\n');
    await expect('return');
    const capabilities = at();
    socket.write('{"execute":"cont"}\n');
    await expect('return');
    return { child, socket, phases: { spawned, connected, greeting, capabilities, cont: at() } };
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`raw QEMU did not start (see ${logFile}): ${(err as Error).message}`);
  }
}

/** Force off the way a script would: SIGTERM, then wait for the child's exit event. Returns ms. */
export async function stopRawQemu(q: RawQemu): Promise<number> {
  const t0 = performance.now();
  const exited = new Promise<void>((resolve) => {
    if (q.child.exitCode !== null || q.child.signalCode !== null) resolve();
    else q.child.once('exit', () => resolve());
  });
  q.child.kill('SIGTERM');
  await exited;
  const ms = performance.now() - t0;
  q.socket.destroy();
  return ms;
}
