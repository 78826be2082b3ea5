/**
 * Row 3: what the driver costs while nothing happens. `vmdesk driver` runs as its own process
 * (as the desktop app embeds it); five VMs are started through the CLI, which talks to it over
 * the control socket; once every guest has booted to its prompt, the driver's CPU time is read
 * from /proc before and after idle windows. Also the driver's RSS with 0 and 200 defined VMs.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { vmFiles } from '../../app/main/paths/vm-files.js';
import type { BenchContext } from './context.js';
import { benchDefinition, BenchSandbox, cpuTicks, rssMiB } from './sandbox.js';
import { interleave, sleep, type Contender, type Figure } from './stats.js';

/** The idle window of the spec: long enough that one 10 ms clock tick is 0.1 % of a core. */
export const IDLE_WINDOW_MS = 10_000;
const RUNNING_VMS = 5;
/** The test guest prints this on its serial console once booted (e2e/guest/init). */
const GUEST_READY = 'VMDESK-GUEST-READY';
const BOOT_TIMEOUT_MS = 240_000;

function clockTicksPerSecond(): number {
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
  ];
}
