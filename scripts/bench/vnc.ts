/**
 * VNC throughput, for real: the test guest (UEFI, so the kernel's efifb gives it /dev/fb0,
 * 1280×800×32) redraws its whole framebuffer continuously — a shell loop typed on its serial
 * console copies two full frames to /dev/fb0 in turn: random ones (every update new and
 * incompressible: bandwidth-bound), then black and white ones (tiny updates: round-trip-bound) —
 * and noVNC in headless Chromium (the client the app itself uses, asking for the encodings it
 * always asks for) counts the framebuffer updates it decodes and the bytes it receives.
 *
 * Three ways to the same VNC server, measured one after the other in every round:
 *  - direct: a minimal WebSocket bridge (websockify's job, in this process) straight to QEMU's
 *    VNC unix socket — the baseline;
 *  - control socket: the same bridge, but to the driver's `console.vnc` stream on its control
 *    socket (the driver's VNC proxy and the control-socket transport);
 *  - vmdesk web: the renderer's own WebStreamChannel on `vmdesk web`'s /stream WebSocket, `vmdesk
 *    web` being a client of the driver, the whole path a browser console uses: it asks the driver
 *    for the VM's VNC socket and proxies it itself (WebSocket → web process → QEMU; see
 *    web-sockets.ts openStream).
 * With VMDESK_BENCH_BASELINE_WEB=/path/to/other/bin/vmdesk.mjs, that build's `vmdesk web` is
 * measured too, in the same rounds (an A/B of a change to the web path), and each way's row is
 * followed by the CPU its Node processes used.
 * noVNC asks for the next update only once it has decoded the last one (QEMU offers no continuous
 * updates), so added latency anywhere on a path lowers its rate.
 */
import fs from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { chromium, type Browser, type Page } from 'playwright-core';
import { WebSocketServer, type WebSocket } from 'ws';
import { openControlStream } from '../../app/main/ipc/control-client.js';
import { driverFiles } from '../../app/main/paths/vm-files.js';
import { REPO } from '../../e2e/support/cli.js';
import type { BenchContext } from './context.js';
import {
  BASELINE_WEB_VMDESK,
  bootGuest,
  KEEP_GUEST_ALIVE,
  KEEP_GUEST_ALIVE_MARKER,
  SerialShell,
  serialViaControl,
  startWebServer,
  type WebServer,
} from './guest-console.js';
import { clockTicksPerSecond } from './driver-load.js';
import { BenchSandbox, cpuTicks } from './sandbox.js';
import { interleave, median, pairedRatios, type Contender, type Figure } from './stats.js';
import type { Adapter, VncMeasureOptions, VncMeasurement } from './vnc-page.js';

const CHROMIUM = '/usr/bin/chromium';
const WARM_MS = 1500;
const WINDOW_MS = 5000;
/** What a minimal bridge lets queue towards the browser before it stops reading QEMU. */
const BRIDGE_HIGH_WATER = 4 * 2 ** 20;

/**
 * Frames the size of the framebuffer, made once in the guest's RAM: two of random bytes
 * (incompressible: every update is ~3 bytes a pixel, so the rate is bound by bandwidth and
 * decoding) and a black and a white one (each update is one solid rectangle of a few bytes, so
 * the rate is bound by round trips: QEMU's refresh timer and the path's latency).
 */
const MAKE_FRAMES =
  'n=$(( $(cut -d, -f2 /sys/class/graphics/fb0/virtual_size) * $(cat /sys/class/graphics/fb0/stride) )); ' +
  'head -c $n /dev/urandom >/tmp/ra; head -c $n /dev/urandom >/tmp/rb; ' +
  "head -c $n /dev/zero >/tmp/sa; head -c $n /dev/zero | tr '\\0' '\\377' >/tmp/sb; " +
  'echo 0 >/sys/class/graphics/fbcon/cursor_blink; echo FRAMES$((40+2)) $n';

/** Copies frames `a` and `b` to /dev/fb0 in turn, forever (the previous loop, if any, is stopped). */
const redrawLoop = (a: string, b: string) =>
  'kill $(cat /tmp/loop.pid 2>/dev/null) 2>/dev/null; ' +
  `(while :; do cat ${a} >/dev/fb0; cat ${b} >/dev/fb0; done) >/dev/null 2>&1 & ` +
  'echo $! >/tmp/loop.pid; echo LOOP$((40+2))';

interface Scenario {
  key: 'random' | 'solid';
  /** Figure ids: vnc.<way>.fps for random frames (the main rows), vnc.solid.<way>.fps for solid ones. */
  prefix: string;
  loop: string;
  describe: string;
}

const SCENARIOS: Scenario[] = [
  {
    key: 'random',
    prefix: 'vnc',
    loop: redrawLoop('/tmp/ra', '/tmp/rb'),
    describe: 'random full frames',
  },
  {
    key: 'solid',
    prefix: 'vnc.solid',
    loop: redrawLoop('/tmp/sa', '/tmp/sb'),
    describe: 'black/white full frames',
  },
];

/** The page: noVNC (the package the app bundles) + the renderer's WebStreamChannel + vnc-page.ts. */
async function pageScript(): Promise<string> {
  const { build } = await import('esbuild');
  const out = await build({
    stdin: {
      contents: [
        "import RFB from '@novnc/novnc';",
        "import { WebStreamChannel } from './app/renderer/api/web-stream.ts';",
        "import { install } from './scripts/bench/vnc-page.ts';",
        'install(RFB, WebStreamChannel);',
      ].join('\n'),
      resolveDir: REPO,
      loader: 'ts',
    },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome110',
    write: false,
    logLevel: 'warning', // a warning here is a real problem of the page's bundle: shown, not hidden
  });
  return out.outputFiles[0]!.text;
}

/**
 * websockify's job in a few lines: each WebSocket gets its own connection from `connect` and
 * bytes are passed both ways; the connection is paused while the browser has not taken
 * BRIDGE_HIGH_WATER bytes.
 */
function startBridge(routes: Record<string, () => Promise<Duplex>>): Promise<{ port: number; close(): void }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  wss.on('connection', (ws: WebSocket, req) => {
    const route = routes[new URL(req.url ?? '/', 'http://x').pathname];
    if (!route) return ws.close(4404, 'no such route');
    const early: Buffer[] = [];
    let sock: Duplex | undefined;
    ws.on('message', (d: Buffer) => (sock ? sock.write(d) : early.push(d)));
    ws.on('close', () => sock?.destroy());
    route().then(
      (s) => {
        if (ws.readyState !== ws.OPEN) return s.destroy();
        sock = s;
        for (const d of early.splice(0)) s.write(d);
        s.on('data', (d: Buffer) => {
          ws.send(d, { binary: true }, () => {
            if (s.isPaused() && ws.bufferedAmount < BRIDGE_HIGH_WATER / 2) s.resume();
          });
          if (ws.bufferedAmount >= BRIDGE_HIGH_WATER) s.pause();
        });
        s.on('close', () => ws.close());
        s.on('error', () => ws.close());
        s.resume();
      },
      (err: Error) => ws.close(1011, err.message.slice(0, 120)),
    );
  });
  return new Promise((resolve, reject) => {
    wss.once('error', reject);
    wss.once('listening', () => resolve({ port: (wss.address() as net.AddressInfo).port, close: () => wss.close() }));
  });
}

function unixConnection(sockPath: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(sockPath);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

async function openPage(browser: Browser, origin: string, script: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  if (process.env.VMDESK_BENCH_DEBUG) page.on('console', (m) => process.stderr.write(`[page] ${m.text()}\n`));
  // Served at vmdesk web's own origin (its Origin check lets only its own pages open streams).
  await page.route(`${origin}/__bench/**`, (route) => {
    const js = route.request().url().endsWith('.js');
    return route.fulfill({
      status: 200,
      contentType: js ? 'text/javascript' : 'text/html',
      body: js
        ? script
        : '<!doctype html><body style="margin:0"><div id="screen" style="width:1280px;height:800px"></div>' +
          '<script type="module" src="/__bench/page.js"></script></body>',
    });
  });
  await page.goto(`${origin}/__bench/index.html`);
  await page.waitForFunction(() => 'vncBench' in globalThis);
  return page;
}

interface Way {
  /** `webBase`: `vmdesk web` of the build named by VMDESK_BENCH_BASELINE_WEB (an A/B run). */
  key: 'direct' | 'control' | 'web' | 'webBase';
  name: string;
  label: string;
  url: string;
  adapter: Adapter;
}

/** A measurement, and the CPU the processes on its path used meanwhile (warm-up included), % of one core. */
type Run = VncMeasurement & { cpuPct: number };
const CPU_OF: Record<Way['key'], string> = {
  direct: 'the bench process (the bridge; Playwright)',
  control: 'the driver + the bench process (the bridge; Playwright)',
  web: 'the driver + `vmdesk web`',
  webBase: 'the driver + the baseline `vmdesk web`',
};
type Runs = Record<Scenario['key'], Record<Way['key'], Run[]>>;

async function measure(page: Page, o: VncMeasureOptions): Promise<VncMeasurement> {
  return page.evaluate(
    (opts) =>
      (
        globalThis as unknown as { vncBench: { measure(o: VncMeasureOptions): Promise<VncMeasurement> } }
      ).vncBench.measure(opts),
    o,
  );
}

export async function benchVnc(ctx: BenchContext): Promise<Figure[]> {
  const sb = new BenchSandbox().seedCache(ctx.cacheTemplate);
  let browser: Browser | undefined;
  let bridge: { port: number; close(): void } | undefined;
  const runs: Runs = {
    random: { direct: [], control: [], web: [], webBase: [] },
    solid: { direct: [], control: [], web: [], webBase: [] },
  };
  const errors = new Map<string, Error>();
  try {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: the VNC rows need Debian's chromium`);
    const driver = await sb.startDriver();
    ctx.progress('vnc: booting the test guest (UEFI, for /dev/fb0) under a vmdesk driver');
    const vm = await bootGuest(sb, 'fb', ctx.iso, ['--firmware', 'uefi']);
    const serial = await serialViaControl(sb, vm);
    const shell = new SerialShell(serial);
    await shell.run(KEEP_GUEST_ALIVE, KEEP_GUEST_ALIVE_MARKER);
    await shell.run(MAKE_FRAMES, 'FRAMES42');
    const web = await startWebServer(sb);
    const webBase = BASELINE_WEB_VMDESK ? await startWebServer(sb, BASELINE_WEB_VMDESK) : undefined;
    const control = driverFiles(sb.paths).controlSocket;
    bridge = await startBridge({
      '/direct': () => unixConnection(vm.files.vncSocket),
      '/control': () => openControlStream(control, 'console.vnc', { vm: vm.id }),
    });
    const b = `ws://127.0.0.1:${bridge.port}`;
    const ways: Way[] = [
      {
        key: 'direct',
        name: 'direct',
        label: 'QEMU VNC socket via a minimal WebSocket bridge',
        url: `${b}/direct`,
        adapter: 'websocket',
      },
      {
        key: 'control',
        name: 'control socket',
        label: "vmdesk's control socket (driver's VNC proxy) via the same bridge",
        url: `${b}/control`,
        adapter: 'websocket',
      },
      {
        key: 'web',
        name: 'vmdesk web',
        label: '`vmdesk web` /stream (client of the driver), WebStreamChannel',
        url: web.streamUrl('console.vnc', { vm: vm.id }),
        adapter: 'vmdesk',
      },
    ];
    // The baseline server lets only pages of its own origin open streams: it gets a second page.
    if (webBase)
      ways.splice(2, 0, {
        key: 'webBase',
        name: 'vmdesk web (baseline build)',
        label: `\`vmdesk web\` /stream of the baseline build (${BASELINE_WEB_VMDESK}), WebStreamChannel`,
        url: webBase.streamUrl('console.vnc', { vm: vm.id }),
        adapter: 'vmdesk',
      });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--no-first-run',
        // The bridge is on another port of 127.0.0.1 than the page: a "local network" request to Chromium.
        '--disable-features=LocalNetworkAccessChecks',
      ],
    });
    const script = await pageScript();
    const page = await openPage(browser, web.origin, script);
    const basePage = webBase ? await openPage(browser, webBase.origin, script) : undefined;
    /** CPU seconds so far of the Node processes on a way's path: this one (the bridge), the
     * driver, `vmdesk web`. */
    const hz = clockTicksPerSecond();
    const self = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    };
    const ticks = (...ps: (WebServer | undefined)[]) => {
      const pids = [driver.pid!, ...ps.map((p) => p!.child.pid!)];
      return pids.reduce((sum, pid) => sum + cpuTicks(pid), 0) / hz;
    };
    const cpuOf: Record<Way['key'], () => number> = {
      direct: self,
      control: () => self() + ticks(),
      web: () => ticks(web),
      webBase: () => ticks(webBase),
    };
    for (const sc of SCENARIOS) {
      await shell.run(sc.loop, 'LOOP42');
      const contenders: Contender[] = ways.map((w) => ({
        name: `vnc ${sc.key}: ${w.name}`,
        async run(round: number) {
          const on = w.key === 'webBase' ? basePage! : page;
          const cpu0 = cpuOf[w.key]();
          const t0 = performance.now();
          const m = await measure(on, { url: w.url, adapter: w.adapter, warmMs: WARM_MS, windowMs: WINDOW_MS });
          const cpuPct = ((cpuOf[w.key]() - cpu0) / ((performance.now() - t0) / 1000)) * 100;
          if (m.updates === 0) throw new Error(`noVNC decoded no update in ${WINDOW_MS / 1000} s`);
          if (round >= 0) runs[sc.key][w.key].push({ ...m, cpuPct });
        },
      }));
      await interleave(contenders, ctx.runs, ctx.progress);
      contenders.forEach((c, i) => c.error && errors.set(`${sc.key}.${ways[i]!.key}`, c.error));
    }
    serial.destroy();
    return SCENARIOS.flatMap((sc) => figures(sc, ways, runs[sc.key], errors));
  } catch (err) {
    const note = (err as Error).message;
    return [
      {
        id: 'vnc.web.fps',
        label: 'VNC updates/s via vmdesk web',
        unit: 'updates/s',
        samples: [],
        absent: 'failed',
        note,
      },
    ];
  } finally {
    await browser?.close().catch(() => {});
    bridge?.close();
    await sb.killQemus();
    sb.cleanup();
  }
}

function figures(sc: Scenario, ways: Way[], runs: Record<Way['key'], Run[]>, errors: Map<string, Error>): Figure[] {
  const out: Figure[] = [];
  for (const w of ways) {
    const err = errors.get(`${sc.key}.${w.key}`);
    const fail = err ? { absent: 'failed' as const, note: err.message } : {};
    const rs = runs[w.key];
    const fps = rs.map((m) => (m.updates * 1000) / m.ms);
    const mbps = rs.map((m) => m.bytes / 1e6 / (m.ms / 1000));
    const perUpdate = median(rs.map((m) => m.bytes / Math.max(1, m.updates)));
    const note =
      w.key === 'direct' && rs.length > 0
        ? {
            note:
              `noVNC 1.7 in headless Chromium; the guest (TCG, UEFI efifb) copies ${sc.describe} to its ` +
              `1280×800×32 /dev/fb0 in a loop; ~${perUpdate >= 1e5 ? `${(perUpdate / 1e6).toFixed(2)} MB` : `${Math.round(perUpdate)} bytes`} ` +
              `per update; ${WINDOW_MS / 1000} s windows after ${WARM_MS / 1000} s, the three paths in turn each round`,
          }
        : {};
    const what = `VNC, ${sc.describe}`;
    const base = runs.direct;
    const paired = (xs: number[], of: (m: VncMeasurement) => number) => {
      const text = [
        w.key === 'direct' ? undefined : pairedRatios(xs, base.map(of), 'direct'),
        w.key === 'web' ? pairedRatios(xs, runs.webBase.map(of), 'the baseline build') : undefined,
      ].filter((t) => t !== undefined);
      return text.length > 0 ? { note: text.join('; ') } : {};
    };
    out.push({
      id: `${sc.prefix}.${w.key}.fps`,
      label: `${what}: updates/s, noVNC ← ${w.label}`,
      unit: 'updates/s',
      samples: fps,
      ...note,
      ...paired(fps, (m) => (m.updates * 1000) / m.ms),
      ...fail,
    });
    // Solid frames are a few bytes each: their bytes/s says nothing the updates/s does not.
    if (sc.key === 'random')
      out.push({
        id: `${sc.prefix}.${w.key}.bytes`,
        label: `${what}: bytes/s, noVNC ← ${w.label}`,
        unit: 'MB/s',
        samples: mbps,
        ...paired(mbps, (m) => m.bytes / 1e6 / (m.ms / 1000)),
        ...fail,
      });
    if (sc.key === 'random')
      out.push({
        id: `${sc.prefix}.${w.key}.cpu`,
        label: `… CPU of ${CPU_OF[w.key]} meanwhile (% of one core)`,
        unit: '%',
        samples: rs.map((m) => m.cpuPct),
        ...fail,
      });
  }
  return out;
}
