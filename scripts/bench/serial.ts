/**
 * Serial console throughput, for real, and the serial bridge's own ceiling.
 *
 * Real: the test guest floods its serial port (`yes | head -c N` on its shell, ttyS0) and a viewer
 * counts the bytes/s it receives from the first flood byte to a marker printed after it. Three
 * viewers, one after the other in every round: `socat` on QEMU's serial socket of a QEMU started
 * by hand with the argv vmdesk builds (the baseline: QEMU's serial socket takes one connection,
 * which vmdesk's driver holds for its own VM, so the baseline is a second, identical guest that
 * idles while the other floods), and a vmdesk VM's console through the driver's control socket
 * (what `vmdesk console` reads) and through `vmdesk web`'s /stream WebSocket. With
 * VMDESK_BENCH_BASELINE_WEB=/path/to/other/bin/vmdesk.mjs, that build's driver and `vmdesk web`
 * are measured too, in the same rounds (an A/B of a change to the console's path).
 *
 * Ceiling: SerialHub (the driver's one connection to QEMU's serial socket,
 * fanned out to viewers) reads from a synthetic source — a separate Node process serving a unix
 * socket that writes N MiB as fast as the socket takes it, standing in for QEMU — and delivers
 * to 1 or 4 viewers. Viewers only count bytes, so this measures the hub (read, ring buffer,
 * fan-out), not a terminal.
 */
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawn, type ChildProcess } from 'node:child_process';
import { WebSocket } from 'ws';
import { SerialHub } from '../../app/main/consoles/serial-hub.js';
import { openControlStream } from '../../app/main/ipc/control-client.js';
import { driverFiles, vmFiles } from '../../app/main/paths/vm-files.js';
import type { BenchContext } from './context.js';
import {
  BASELINE_WEB_VMDESK,
  GUEST_READY,
  KEEP_GUEST_ALIVE,
  KEEP_GUEST_ALIVE_MARKER,
  SerialShell,
  startWebServer,
  type WebServer,
} from './guest-console.js';
import { onPath } from './machine.js';
import { clockTicksPerSecond } from './driver-load.js';
import { benchDefinition, BenchSandbox, cpuTicks, spawnReady } from './sandbox.js';
import { interleave, pairedRatios, sleep, stopwatch, type Contender, type Figure } from './stats.js';

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
  return [...(await benchSerialGuest(ctx)), ...(await benchSerialHub(ctx))];
}

/** The ceiling of the driver's serial bridge alone (no guest): a synthetic source, 1 and 4 viewers. */
async function benchSerialHub(ctx: BenchContext): Promise<Figure[]> {
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
    const label = `serial bridge ceiling → ${n} viewer${n > 1 ? 's' : ''} (SerialHub in-process, synthetic source, ${PAYLOAD_MIB} MiB)`;
    const err = contenders[i]!.error;
    return err
      ? { id, label, unit: 'MB/s', samples: results[n]!, absent: 'failed', note: err.message }
      : { id, label, unit: 'MB/s', samples: results[n]! };
  });
}

/** Bytes per flood: a few seconds of a TCG guest's UART. */
const FLOOD_BYTES = 400_000;
/** Typed on the guest's shell; the shell computes the markers, so the echo of the line never matches. */
const FLOOD = `yes FLOOD$((0))LINE | head -c ${FLOOD_BYTES}; echo; echo FLOOD$((40+2))END`;
const FLOOD_START = 'FLOOD0LINE';
const FLOOD_END = 'FLOOD42END';
const FLOOD_TIMEOUT_MS = 180_000;

/** One viewer of a guest's serial console, opened per run. */
interface SerialViewer {
  /** The processes between QEMU and the viewer, whose CPU time a run records. */
  pids: number[];
  write(text: string): void;
  onData(listener: (d: Buffer) => void): void;
  close(): void;
}

function socatViewer(socat: string, sock: string): SerialViewer {
  const p = spawn(socat, ['STDIO', `UNIX-CONNECT:${sock}`], { stdio: ['pipe', 'pipe', 'ignore'] });
  return {
    pids: p.pid ? [p.pid] : [],
    write: (t) => p.stdin.write(t),
    onData: (l) => p.stdout.on('data', l),
    close: () => p.kill('SIGKILL'),
  };
}

/** No socat: the least a program can do, a unix socket read in Node (said in the row label). */
function nodeViewer(sock: string): SerialViewer {
  const c = net.createConnection(sock);
  c.on('error', () => {});
  return { pids: [], write: (t) => c.write(t), onData: (l) => c.on('data', l), close: () => c.destroy() };
}

async function controlViewer(controlSocket: string, vm: string, pids: number[]): Promise<SerialViewer> {
  const c = await openControlStream(controlSocket, 'console.serial', { vm });
  c.on('error', () => {});
  const v = {
    pids,
    write: (t: string) => c.write(t),
    onData: (l: (d: Buffer) => void) => c.on('data', l),
    close: () => c.destroy(),
  };
  c.resume();
  return v;
}

async function webViewer(url: string, pids: number[]): Promise<SerialViewer> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => {});
  return {
    pids,
    write: (t) => ws.send(Buffer.from(t), { binary: true }),
    onData: (l) => ws.on('message', (d: Buffer) => l(d)),
    close: () => ws.terminate(),
  };
}

/** The typed line's echo ends with this (the shell has not expanded it). */
const FLOOD_ECHO = 'FLOOD$((40+2))END';

/**
 * One flood through `viewer`: bytes/s from the first flood byte to the end marker. Only what
 * arrives after the typed line's echo counts: a console's replay of its history (the previous
 * run's flood) must not.
 */
async function flood(viewer: SerialViewer, hz: number): Promise<{ kBps: number; cpuPct: number }> {
  let phase: 'replay' | 'echo' | 'start' | 'flood' = 'replay';
  let tail = '';
  let t0 = 0;
  let t1 = 0;
  let bytes = 0;
  const done = new Promise<void>((resolve) => {
    viewer.onData((d) => {
      if (phase === 'replay') return;
      const text = d.toString('latin1');
      if (phase === 'echo' || phase === 'start') {
        tail = (tail + text).slice(-4096);
        if (phase === 'echo') {
          const e = tail.indexOf(FLOOD_ECHO);
          if (e < 0) return;
          phase = 'start';
          tail = tail.slice(e + FLOOD_ECHO.length);
        }
        const i = tail.indexOf(FLOOD_START);
        if (i < 0) return;
        phase = 'flood';
        t0 = performance.now();
        bytes = tail.length - i;
        tail = tail.slice(i);
      } else {
        bytes += d.length;
        tail = (tail + text).slice(-64);
      }
      if (tail.includes(FLOOD_END)) {
        t1 = performance.now();
        resolve();
      }
    });
  });
  // The replay, if any, comes at once.
  await sleep(300);
  phase = 'echo';
  const ticks = () => viewer.pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
  const ticks0 = ticks();
  const began = performance.now();
  viewer.write(FLOOD + '\n');
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      done,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no ${FLOOD_END} within ${FLOOD_TIMEOUT_MS / 1000} s (${phase}, ${bytes} bytes)`)),
          FLOOD_TIMEOUT_MS,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  const cpuPct = ((ticks() - ticks0) / hz / ((performance.now() - began) / 1000)) * 100;
  viewer.close();
  return { kBps: bytes / 1e3 / ((t1 - t0) / 1000), cpuPct };
}

/** Types `line` through a fresh viewer and waits for `marker`. */
async function typeOn(open: () => Promise<SerialViewer>, line: string, marker: string): Promise<void> {
  const v = await open();
  try {
    await new SerialShell({ write: (t) => v.write(t), on: (_ev, l) => v.onData(l) }).run(line, marker);
  } finally {
    v.close();
  }
}

async function benchSerialGuest(ctx: BenchContext): Promise<Figure[]> {
  const socat = onPath('socat');
  const baseName = socat ? 'socat' : 'a Node socket reader (socat not installed)';
  const ways = [
    { key: 'socat', label: `serial flood → ${baseName} on QEMU's serial socket (driver stopped)` },
    {
      key: 'node',
      label: "serial flood → a Node socket reader on QEMU's serial socket (driver stopped; no vmdesk, a control)",
    },
    { key: 'control', label: "serial flood → vmdesk console via the driver's control socket" },
    {
      key: 'webBase',
      label: `serial flood → \`vmdesk web\` /stream WebSocket, driver and \`vmdesk web\` of the baseline build (${BASELINE_WEB_VMDESK})`,
    },
    { key: 'web', label: 'serial flood → `vmdesk web` /stream WebSocket (client of the driver)' },
  ] as const;
  type Key = (typeof ways)[number]['key'];
  const samples: Record<Key, number[]> = { socat: [], node: [], control: [], webBase: [], web: [] };
  /** CPU of the processes on the path (socat; the driver; the driver and `vmdesk web`), % of one core. */
  const cpu: Record<Key, number[]> = { socat: [], node: [], control: [], webBase: [], web: [] };
  const hz = clockTicksPerSecond();
  const sb = new BenchSandbox().seedCache(ctx.cacheTemplate);
  let driver: ChildProcess | undefined;
  let web: WebServer | undefined;
  let webBase: WebServer | undefined;
  const stopped = (c: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
  /** One guest for every viewer: for the baseline the driver (and `vmdesk web`) stop, the VM
   * runs on, and QEMU's serial socket is free; the next vmdesk run starts the driver again,
   * which adopts the VM and reconnects its console. */
  const withoutVmdesk = async () => {
    if (web) await stopped(web.child);
    if (webBase) await stopped(webBase.child);
    web = webBase = undefined;
    if (driver) await stopped(driver);
    driver = undefined;
  };
  /** Whose driver runs: this build's, or the baseline build's (for its `vmdesk web`: the serial
   * console's path runs through both processes). */
  let driverOf: 'this' | 'baseline' = 'this';
  const withDriver = async (of: typeof driverOf = 'this'): Promise<ChildProcess> => {
    if (driver && driverOf !== of) await withoutVmdesk();
    driverOf = of;
    driver ??=
      of === 'this'
        ? await sb.startDriver()
        : await sb.startDriver({ VMDESK_BENCH_PROGRAM: BASELINE_WEB_VMDESK }, [
            '/bin/sh',
            '-c',
            'exec "$0" "$VMDESK_BENCH_PROGRAM" driver',
          ]);
    return driver;
  };
  const withWeb = async (): Promise<WebServer> => {
    await withDriver();
    return (web ??= await startWebServer(sb));
  };
  const withWebBase = async (): Promise<WebServer> => {
    await withDriver('baseline');
    return (webBase ??= await startWebServer(sb, BASELINE_WEB_VMDESK));
  };
  try {
    const def = benchDefinition('flood', ctx.iso);
    sb.writeDefinitions([def]);
    await withDriver();
    ctx.progress('serial: booting the test guest under a vmdesk driver');
    const started = await sb.run(['start', def.name]);
    if (started.code !== 0) throw new Error(`vmdesk start exited ${started.code}: ${started.stderr.trim()}`);
    const files = vmFiles(sb.paths, def.id);
    await sb.waitForFileText(files.serialLog, GUEST_READY, 240_000);
    const control = driverFiles(sb.paths).controlSocket;
    const openControl = async () => controlViewer(control, def.id, [(await withDriver()).pid!]);
    const openWeb = async () => {
      const w = await withWeb();
      return webViewer(w.streamUrl('console.serial', { vm: def.id }), [driver!.pid!, w.child.pid!]);
    };
    const openWebBase = async () => {
      const w = await withWebBase();
      return webViewer(w.streamUrl('console.serial', { vm: def.id }), [driver!.pid!, w.child.pid!]);
    };
    const openDirect = async (useSocat: boolean) => {
      await withoutVmdesk();
      return socat && useSocat ? socatViewer(socat, files.serialSocket) : nodeViewer(files.serialSocket);
    };
    await typeOn(openControl, KEEP_GUEST_ALIVE, KEEP_GUEST_ALIVE_MARKER);
    const opener = {
      socat: () => openDirect(true),
      node: () => openDirect(false),
      control: openControl,
      webBase: openWebBase,
      web: openWeb,
    };
    const contenders: Contender[] = ways.map((w) => ({
      name: `serial flood → ${w.key}`,
      // Without socat the baseline already is the Node reader.
      skip: (w.key === 'node' && !socat) || (w.key === 'webBase' && !BASELINE_WEB_VMDESK),
      async run(round: number) {
        const r = await flood(await opener[w.key](), hz);
        if (round < 0) return;
        samples[w.key].push(r.kBps);
        cpu[w.key].push(r.cpuPct);
      },
    }));
    await interleave(contenders, ctx.runs, ctx.progress);
    const cpuOf = {
      socat: 'socat',
      node: '',
      control: 'the driver',
      webBase: "the baseline build's driver + `vmdesk web`",
      web: 'the driver + `vmdesk web`',
    };
    return ways.flatMap((w, i) => {
      const err = contenders[i]!.error;
      if (contenders[i]!.skip && !err) return [];
      const f: Figure = { id: `serial.guest.${w.key}`, label: w.label, unit: 'kB/s', samples: samples[w.key] };
      if (err) return [{ ...f, absent: 'failed' as const, note: err.message }];
      const paired = [
        w.key === 'socat' ? undefined : pairedRatios(samples[w.key], samples.socat, baseName),
        w.key === 'web' ? pairedRatios(samples.web, samples.webBase, 'the baseline build') : undefined,
      ].filter((t) => t !== undefined);
      if (paired.length > 0) f.note = paired.join('; ');
      if (w.key === 'socat')
        f.note =
          `the test guest under TCG runs \`yes | head -c ${FLOOD_BYTES}\` on its ttyS0 shell; one guest for all ` +
          `viewers (QEMU's serial socket takes one client: for the baseline the driver stops and the VM runs on; ` +
          `then a new driver adopts it), the viewers in turn each round`;
      const c: Figure = {
        id: `serial.guest.${w.key}.cpu`,
        label: `… CPU of ${cpuOf[w.key]} during that flood (% of one core)`,
        unit: '%',
        samples: cpu[w.key],
      };
      return (w.key === 'socat' && !socat) || w.key === 'node' ? [f] : [f, c];
    });
  } catch (err) {
    return [
      {
        id: 'serial.guest.web',
        label: 'serial flood → `vmdesk web`',
        unit: 'kB/s',
        samples: [],
        absent: 'failed',
        note: (err as Error).message,
      },
    ];
  } finally {
    await withoutVmdesk().catch(() => {});
    await sb.killQemus();
    sb.cleanup();
  }
}
