/** The upload's progress line: "12.5 MiB of 700 MiB (2 %) · 45.1 MiB/s". */
import { formatBytes } from '../vm-details/format.js';

export function percent(loaded: number, total: number): number {
  return total > 0 ? Math.min(100, Math.floor((loaded / total) * 100)) : 0;
}

/** Bytes per second since the start; null in the first half second (too noisy to show). */
export function speed(loaded: number, elapsedMs: number): number | null {
  return elapsedMs < 500 ? null : (loaded / elapsedMs) * 1000;
}

export function progressText(loaded: number, total: number, elapsedMs: number): string {
  const s = speed(loaded, elapsedMs);
  return `${formatBytes(loaded)} of ${formatBytes(total)} (${percent(loaded, total)} %)${s === null ? '' : ` · ${formatBytes(Math.round(s))}/s`}`;
}
