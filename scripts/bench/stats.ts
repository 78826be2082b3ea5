/**
 * The numbers side of the benchmark: what one table row holds, min/median/max, and the
 * interleaving loop that spreads machine noise evenly over the systems being compared.
 */
import { performance } from 'node:perf_hooks';

export type Unit = 'ms' | '%' | 'MiB' | 'MB/s' | 'kB/s' | 'updates/s';

/** Why a row has no samples: the system is not on this machine, or the code does not exist yet. */
export type Absent = 'not installed' | 'not built yet' | 'failed';

export interface Target {
  text: string;
  /** undefined = cannot be judged (e.g. the comparison system is absent). */
  pass?: boolean;
}

export interface Figure {
  /** Stable key in the JSON output, e.g. `start.vmdesk.warm`. */
  id: string;
  label: string;
  unit: Unit;
  samples: number[];
  absent?: Absent;
  /** Shown under the table: why a figure is absent or what it does not include. */
  note?: string;
  ratio?: string;
  target?: Target;
  /** Per-phase samples (same run order as `samples`), for the profile in the JSON output. */
  phases?: Record<string, number[]>;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summary(xs: readonly number[]): { min: number; median: number; max: number } {
  return {
    min: xs.length ? Math.min(...xs) : Number.NaN,
    median: median(xs),
    max: xs.length ? Math.max(...xs) : Number.NaN,
  };
}

/** A system that takes part in an interleaved comparison: one call = one timed run. */
export interface Contender {
  name: string;
  /** Skipped contenders keep their slot in the order but do not run. */
  skip?: boolean;
  /** Set when a run threw: the contender is skipped from then on and its row says why. */
  error?: Error;
  run(round: number): Promise<void>;
}

/**
 * Runs A,B,C,A,B,C... so a slow spell of the machine (another process, thermal throttling)
 * hits every system alike instead of one system's whole batch. Round -1 is an untimed warm-up
 * (page cache, Node's compile cache, the QEMU binary's pages) that callers should discard.
 */
export async function interleave(
  contenders: readonly Contender[],
  runs: number,
  progress: (line: string) => void,
  warmUp = true,
): Promise<void> {
  for (let round = warmUp ? -1 : 0; round < runs; round++) {
    for (const c of contenders) {
      if (c.skip) continue;
      progress(`${c.name} ${round < 0 ? 'warm-up' : `run ${round + 1}/${runs}`}`);
      try {
        await c.run(round);
      } catch (err) {
        // One broken system must not cost the other rows: report it, keep measuring the rest.
        c.error = err instanceof Error ? err : new Error(String(err));
        c.skip = true;
        progress(`${c.name} FAILED: ${c.error.message}`);
      }
    }
  }
}

/** performance.now() based stopwatch: milliseconds with sub-millisecond resolution. */
export function stopwatch(): () => number {
  const t0 = performance.now();
  return () => performance.now() - t0;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Value + unit with precision that suits its size (0.42 ms, 12.3 ms, 250 ms). */
export function formatValue(x: number, unit: Unit): string {
  if (!Number.isFinite(x)) return '—';
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2;
  const n = x.toFixed(digits);
  return unit === '%' ? `${n} %` : `${n} ${unit}`;
}

/**
 * For rows measured in the same rounds as a baseline (interleaved, so round i of both ran
 * seconds apart): the median and range of the per-round ratios, which a slow spell of the
 * machine moves less than the ratio of the two medians. Undefined unless both have every round.
 */
export function pairedRatios(xs: readonly number[], base: readonly number[], baseName: string): string | undefined {
  if (xs.length === 0 || xs.length !== base.length) return undefined;
  const r = xs.map((x, i) => x / base[i]!);
  const s = summary(r);
  return `per-round ratio to ${baseName}: median ${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
}
