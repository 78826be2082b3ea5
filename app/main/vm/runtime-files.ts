/**
 * Files a QEMU run leaves in the runtime dir, and finding a QEMU again after the driver that
 * started it died.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AppPaths } from '../paths/app-paths.js';
import { removePath } from '../paths/storage-errors.js';
import { definitionsDir, runRecordsDir } from '../paths/vm-files.js';
import type { RunRecord } from './run-record.js';

export function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

export function readPidfile(file: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export function realpath(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

/** Sockets, pidfile and the per-VM runtime dir. QEMU leaves vnc.sock behind even on a clean exit. */
export function cleanupRuntime(rec: RunRecord): void {
  for (const f of [rec.qmpSocket, rec.serialSocket, rec.vncSocket, rec.pidfile]) removePath(f);
  // The guest agent's socket sits beside QMP's; the helpers' files are their own (they remove
  // them, and HelperProcess.end does if they did not).
  removePath(path.join(rec.runtimeDir, 'qga.sock'));
  for (const h of rec.helpers ?? []) for (const f of [h.socket, h.pidfile]) if (f) removePath(f);
  try {
    fs.rmdirSync(rec.runtimeDir);
  } catch {
    /* not empty or already gone */
  }
}

/**
 * What a driver killed mid-operation can leave: a VM's runtime dir made just before its run
 * record, and temp files of atomic writes. MUST only run while holding the owner lock before any
 * operation starts: then whatever no adopted QEMU owns (`owned` runtime dirs) is stale.
 */
export function sweepOrphans(paths: AppPaths, owned: ReadonlySet<string>): void {
  for (const dir of [definitionsDir(paths), runRecordsDir(paths)]) {
    for (const n of safeReaddir(dir))
      if (n.startsWith('.') && n.endsWith('.tmp')) removePath(path.join(dir, n), { paths });
  }
  for (const n of safeReaddir(paths.runtime)) {
    const p = path.join(paths.runtime, n);
    if (/^[0-9a-f]{8}$/.test(n) && !owned.has(p)) removePath(p, { recursive: true, paths });
  }
}
