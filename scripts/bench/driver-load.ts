/**
 * Row 3: what the driver costs while nothing happens. `vmdesk driver` runs as its own process
 * (as the desktop app embeds it); five VMs are started through the CLI, which talks to it over
 * the control socket; once every guest has booted to its prompt, the driver's CPU time is read
 * from /proc before and after idle windows. Also the driver's RSS with 0 and 200 defined VMs, and
 * per running VM (50 VMs with fake QEMUs, a console session each).
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DEFAULT_RING_BYTES } from '../../app/main/consoles/serial-hub.js';
import { vmFiles } from '../../app/main/paths/vm-files.js';
import { REPO } from '../../e2e/support/cli.js';
import type { BenchContext } from './context.js';
import { benchDefinition, BenchSandbox, cpuTicks, rssMiB } from './sandbox.js';
import { interleave, sleep, type Contender, type Figure } from './stats.js';

/** The idle window of the spec: long enough that one 10 ms clock tick is 0.1 % of a core. */
export const IDLE_WINDOW_MS = 10_000;
const RUNNING_VMS = 5;
/** The test guest prints this on its serial console once booted (e2e/guest/init). */
const GUEST_READY = 'VMDESK-GUEST-READY';
const BOOT_TIMEOUT_MS = 240_000;

export function clockTicksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100; // USER_HZ is 100 on every mainstream Linux build
  }
}

/** Resolves when every file contains `text`, or after the timeout with the ones that did not. */
async function waitForText(files: string[], text: string, timeoutMs: number): Promise<string[]> {
  const deadline = performance.now() + timeoutMs;
  let missing = files;
  while (missing.length > 0 && performance.now() < deadline) {
    missing = missing.filter((f) => {
      try {
        return !fs.readFileSync(f, 'utf8').includes(text);
      } catch {
        return true;
      }
    });
    if (missing.length > 0) await sleep(250);
  }
  return missing;
}

export async function benchDriverIdle(ctx: BenchContext): Promise<Figure> {
  const label = `driver CPU, ${RUNNING_VMS} running VMs, ${IDLE_WINDOW_MS / 1000} s idle windows (% of one core)`;
  const defs = Array.from({ length: RUNNING_VMS }, (_, i) => benchDefinition(`idle-${i + 1}`, ctx.iso));
  const sb = new BenchSandbox().seedCache(ctx.cacheTemplate).writeDefinitions(defs);
  try {
    const driver = await sb.startDriver();
    for (const d of defs) {
      ctx.progress(`driver CPU: vmdesk start ${d.name}`);
      const r = await sb.run(['start', d.name]);
      if (r.code !== 0) throw new Error(`vmdesk start ${d.name} exited ${r.code}: ${r.stderr.trim()}`);
    }
    ctx.progress(`driver CPU: waiting for ${RUNNING_VMS} guests to boot (TCG: slow)`);
    const notBooted = await waitForText(
      defs.map((d) => vmFiles(sb.paths, d.id).serialLog),
      GUEST_READY,
      BOOT_TIMEOUT_MS,
    );
    const hz = clockTicksPerSecond();
    const samples: number[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      ctx.progress(`driver CPU: idle window ${i + 1}/${ctx.runs}`);
      const ticks0 = cpuTicks(driver.pid!);
      const t0 = performance.now();
      await sleep(IDLE_WINDOW_MS);
      const ticks = cpuTicks(driver.pid!) - ticks0;
      samples.push((ticks / hz / ((performance.now() - t0) / 1000)) * 100);
    }
    const note =
      notBooted.length > 0
        ? `${notBooted.length} of ${RUNNING_VMS} guests had not printed ${GUEST_READY} after ${BOOT_TIMEOUT_MS / 1000} s; measured anyway`
        : `windows back to back in one driver after all ${RUNNING_VMS} guests booted; /proc/PID/stat has ${1000 / hz} ms resolution`;
    return { id: 'driver.cpu.idle5', label, unit: '%', samples, note };
  } catch (err) {
    return { id: 'driver.cpu.idle5', label, unit: '%', samples: [], absent: 'failed', note: (err as Error).message };
  } finally {
    await sb.killQemus();
    sb.cleanup();
  }
}

/** Driver RSS right after it is ready, with no VMs and with `template`'s definitions, interleaved. */
export async function benchDriverRss(ctx: BenchContext, template: BenchSandbox, defined: number): Promise<Figure[]> {
  const empty: number[] = [];
  const full: number[] = [];
  const measure = async (withDefs: boolean, into: number[], round: number) => {
    const sb = new BenchSandbox().seedCache(ctx.cacheTemplate);
    try {
      if (withDefs) sb.copyDefinitionsFrom(template);
      const driver = await sb.startDriver();
      const rss = rssMiB(driver.pid!);
      if (round >= 0) into.push(rss);
    } finally {
      sb.cleanup();
    }
  };
  const contenders: Contender[] = [
    { name: 'driver RSS, 0 VMs', run: (r: number) => measure(false, empty, r) },
    { name: `driver RSS, ${defined} VMs`, run: (r: number) => measure(true, full, r) },
  ];
  await interleave(contenders, ctx.runs, ctx.progress);
  const fig = (i: number, id: string, label: string, samples: number[]): Figure => {
    const err = contenders[i]!.error;
    return err
      ? { id, label, unit: 'MiB', samples, absent: 'failed', note: err.message }
      : { id, label, unit: 'MiB', samples };
  };
  return [
    fig(0, 'driver.rss.0', 'driver RSS after ready, 0 VMs defined', empty),
    fig(1, `driver.rss.${defined}`, `driver RSS after ready, ${defined} VMs defined`, full),
    ...(await benchDriverSessions(ctx)),
  ];
}

/** VMs "running" with a console session each, for the memory-per-VM row. */
const SESSION_VMS = 50;

function runNode(sb: BenchSandbox, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env: sb.env, timeout: 300_000, encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }),
    );
  });
}

/** driver-sessions.ts as one file for `node` (the bench bundle is one file; this runs on its own),
 * next to the bench's bundle so its packages resolve from the repo's node_modules. */
async function bundleSessionsScript(): Promise<string> {
  const { build } = await import('esbuild');
  const out = path.join(REPO, 'dist', 'bench', 'driver-sessions.mjs');
  await build({
    entryPoints: [path.join(REPO, 'scripts/bench/driver-sessions.ts')],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return out;
}

/**
 * Driver RSS with SESSION_VMS VMs running, each with a full console history and a viewer, against
 * the same driver process right after it was ready: (loaded − ready) / SESSION_VMS per VM. The
 * QEMUs are the tests' in-process fakes (see driver-sessions.ts), so the row says so.
 */
async function benchDriverSessions(ctx: BenchContext): Promise<Figure[]> {
  const perVm: number[] = [];
  const loadedAll: number[] = [];
  const id = 'driver.rss.perVm';
  const label = `driver RSS per running VM: ${SESSION_VMS} VMs with fake QEMUs (QMP + serial in-process), full console history + 1 viewer each`;
  try {
    const script = await bundleSessionsScript();
    const defs = Array.from({ length: SESSION_VMS }, (_, i) => benchDefinition(`s-${i + 1}`, ctx.iso));
    const runs = Math.min(ctx.runs, 5);
    for (let round = -1; round < runs; round++) {
      ctx.progress(
        `driver RSS, ${SESSION_VMS} running VMs (fake QEMUs) ${round < 0 ? 'warm-up' : `run ${round + 1}/${runs}`}`,
      );
      const sb = new BenchSandbox().seedCache(ctx.cacheTemplate).writeDefinitions(defs);
      try {
        const r = await runNode(sb, ['--expose-gc', script, String(SESSION_VMS)]);
        if (r.code !== 0) throw new Error(`driver-sessions exited ${r.code}: ${r.stderr.trim().slice(-500)}`);
        const m = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as {
          ready: number;
          loaded: number;
          running: number;
          received: number;
        };
        if (m.running !== SESSION_VMS) throw new Error(`only ${m.running} of ${SESSION_VMS} fake VMs were running`);
        // Each viewer's replay is its VM's history: proof the consoles really hold it.
        if (m.received < SESSION_VMS * DEFAULT_RING_BYTES * 0.9)
          throw new Error(
            `the viewers got ${m.received} bytes of console history, not ~${SESSION_VMS} × ${DEFAULT_RING_BYTES}`,
          );
        if (round < 0) continue;
        perVm.push((m.loaded - m.ready) / SESSION_VMS);
        loadedAll.push(m.loaded);
      } finally {
        sb.cleanup();
      }
    }
    return [
      {
        id: `driver.rss.running${SESSION_VMS}`,
        label: `driver RSS with ${SESSION_VMS} running VMs (fake QEMUs, in the same process), 1 console viewer each`,
        unit: 'MiB',
        samples: loadedAll,
      },
      {
        id,
        label,
        unit: 'MiB',
        samples: perVm,
        note: `(RSS with ${SESSION_VMS} running − RSS of the same process when ready) / ${SESSION_VMS}, after a full GC; each VM's console ring buffer holds its ${DEFAULT_RING_BYTES / 1024} KiB`,
      },
    ];
  } catch (err) {
    return [{ id, label, unit: 'MiB', samples: perVm, absent: 'failed', note: (err as Error).message }];
  }
}
