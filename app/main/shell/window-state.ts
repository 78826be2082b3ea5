/**
 * The window's size and position across launches, plus whether the "keeps running in the tray"
 * notice was shown: one small JSON file in the config dir. A missing or damaged file means
 * defaults; saved bounds come back only if enough of them is on a display that exists now.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AppPaths } from '../paths/app-paths.js';
import { writeFileAtomic } from '../vm/atomic-file.js';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface ShellState {
  bounds?: Rect;
  maximized?: boolean;
  trayNoticeShown?: boolean;
}

export const DEFAULT_SIZE = { width: 1200, height: 780 } as const;
export const MIN_SIZE = { width: 720, height: 480 } as const;
/** At least this much of the title bar area must be on a display to restore a position. */
const MIN_VISIBLE = { width: 160, height: 48 } as const;

export function shellStateFile(paths: Pick<AppPaths, 'config'>): string {
  return path.join(paths.config, 'window-state.json');
}

const isNum = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);

function asRect(v: unknown): Rect | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (!isNum(r.x) || !isNum(r.y) || !isNum(r.width) || !isNum(r.height) || r.width <= 0 || r.height <= 0)
    return undefined;
  return { x: Math.round(r.x), y: Math.round(r.y), width: Math.round(r.width), height: Math.round(r.height) };
}

/** Never throws: a garbled file is ignored (and replaced on the next save). */
export function readShellState(file: string): ShellState {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return {};
  }
  if (typeof raw !== 'object' || raw === null) return {};
  const o = raw as Record<string, unknown>;
  const state: ShellState = {};
  const bounds = asRect(o.bounds);
  if (bounds) state.bounds = bounds;
  if (typeof o.maximized === 'boolean') state.maximized = o.maximized;
  if (typeof o.trayNoticeShown === 'boolean') state.trayNoticeShown = o.trayNoticeShown;
  return state;
}

export function writeShellState(file: string, state: ShellState): void {
  writeFileAtomic(file, JSON.stringify(state, null, 2) + '\n');
}

function overlap(a: Rect, b: Rect): { width: number; height: number } {
  return {
    width: Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x)),
    height: Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y)),
  };
}

/**
 * The bounds to open the window with. Saved bounds are used when their top strip (where the title
 * bar is) overlaps a display's work area enough to grab; otherwise the saved size (capped to the
 * largest display) without a position, so the window manager centres it. Sizes never go below MIN_SIZE.
 */
export function restoreBounds(
  saved: Rect | undefined,
  workAreas: readonly Rect[],
): Rect | { width: number; height: number } {
  const largest = workAreas.reduce<{ width: number; height: number } | undefined>(
    (m, a) => (!m || a.width * a.height > m.width * m.height ? a : m),
    undefined,
  );
  const cap = (w: number, h: number) => ({
    width: Math.max(MIN_SIZE.width, largest ? Math.min(w, largest.width) : w),
    height: Math.max(MIN_SIZE.height, largest ? Math.min(h, largest.height) : h),
  });
  if (!saved) return cap(DEFAULT_SIZE.width, DEFAULT_SIZE.height);
  const titleStrip = { x: saved.x, y: saved.y, width: saved.width, height: Math.min(saved.height, MIN_VISIBLE.height) };
  const visible = workAreas.some((a) => {
    const o = overlap(titleStrip, a);
    return (
      o.width >= Math.min(MIN_VISIBLE.width, saved.width) && o.height >= Math.min(MIN_VISIBLE.height, saved.height)
    );
  });
  const size = cap(saved.width, saved.height);
  return visible ? { x: saved.x, y: saved.y, ...size } : size;
}
