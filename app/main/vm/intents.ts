/**
 * Crash-consistent define and delete. A define writes its intent before it makes any file and
 * removes it once the definition is saved; a delete writes its intent, removes the VM's files and
 * its definition last, then the intent. A driver that takes over (`recoverIntents`, under the
 * owner lock, before anything loads) finds what a killed driver left half done: an interrupted
 * define is rolled back (its files go: no definition was ever shown), an interrupted delete is
 * completed (the user asked for it). So no data or log directory outlives its definition.
 *
 * Directories no intent explains are listed by `findOrphans` and never deleted: they may hold
 * the only copy of someone's disk.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as v from 'valibot';
import type { OrphanDir as Orphan } from '../common/contract.js';
import { isUuid } from '../common/names.js';
import type { AppPaths } from '../paths/app-paths.js';
import { makePrivateDir, removePath } from '../paths/storage-errors.js';
import { definitionsDir, intentsDir, isOwnDataDir, nvramPath, vmFiles } from '../paths/vm-files.js';
import { writeFileAtomic } from './atomic-file.js';
import type { DriverLog } from './driver-log.js';
import { safeReaddir } from './runtime-files.js';

/** The VM's data folder when it is not the default one (the vmFolder setting's). */
const DataDir = v.optional(
  v.pipe(
    v.string(),
    v.check((s: string) => path.isAbsolute(s), 'an absolute path'),
  ),
);

const IntentSchema = v.variant('op', [
  v.object({ op: v.literal('define'), id: v.string(), at: v.string(), dataDir: DataDir }),
  v.object({
    op: v.literal('delete'),
    id: v.string(),
    at: v.string(),
    dataDir: DataDir,
    keepDisks: v.boolean(),
    nvram: v.nullable(v.string()),
    /** With kept disks: the VM's firmware and TPM state to remove (only ever vmdesk's own files:
     * each must also be one `ownMachineState` names). Unset for a broken VM: nothing is known. */
    machineState: v.optional(v.array(v.string())),
  }),
]);
export type Intent = v.InferOutput<typeof IntentSchema>;

export function intentFile(paths: AppPaths, id: string): string {
  return path.join(intentsDir(paths), `${id}.json`);
}

/** Durable (fsync + rename) before the caller touches anything. */
export function writeIntent(paths: AppPaths, intent: Intent): void {
  makePrivateDir(intentsDir(paths), paths);
  writeFileAtomic(intentFile(paths, intent.id), JSON.stringify(intent) + '\n');
}

export function clearIntent(paths: AppPaths, id: string): void {
  removePath(intentFile(paths, id), { paths });
}

/**
 * What a delete that keeps the disks still removes: the VM's own firmware and TPM state (both
 * UEFI variable stores and the TPM's memory, keys included), where vmdesk made them.
 */
export function ownMachineState(paths: AppPaths, id: string, dataDir?: string): string[] {
  if (!isUuid(id)) return [];
  const files = vmFiles(paths, id, dataDir);
  return [nvramPath(files.dataDir), nvramPath(files.dataDir, true), files.tpmStateDir].filter((p) => fs.existsSync(p));
}

/** The files a delete removes, definition last. */
export function removeVmFiles(paths: AppPaths, intent: Extract<Intent, { op: 'delete' }>): void {
  const files = vmFiles(paths, intent.id, intent.dataDir);
  if (!intent.keepDisks) removePath(files.dataDir, { recursive: true, paths });
  else
    for (const p of ownMachineState(paths, intent.id, intent.dataDir))
      if (intent.machineState?.includes(p) || p === intent.nvram) removePath(p, { recursive: true, paths });
  removePath(files.logDir, { recursive: true, paths });
  removePath(files.runRecord, { paths });
  removePath(files.definition, { paths });
}

/** Finishes or rolls back every intent a dead driver left. MUST run under the owner lock. */
export function recoverIntents(paths: AppPaths, log: DriverLog): void {
  for (const name of safeReaddir(intentsDir(paths))) {
    const file = path.join(intentsDir(paths), name);
    if (name.startsWith('.') && name.endsWith('.tmp')) {
      removePath(file, { paths }); // an intent write that never completed: nothing followed it
      continue;
    }
    let intent: Intent;
    try {
      intent = v.parse(IntentSchema, JSON.parse(fs.readFileSync(file, 'utf8')));
      if (!isUuid(intent.id) || name !== `${intent.id}.json`) throw new Error('the id does not match the file name');
      if (intent.dataDir !== undefined && !isOwnDataDir(intent.dataDir, intent.id))
        throw new Error(`its folder ${intent.dataDir} is not one vmdesk makes for a VM`);
    } catch (err) {
      log.write(`ignoring the unreadable intent ${file}: ${(err as Error).message}`);
      continue;
    }
    // One intent that cannot be carried out (a VM folder on a drive now read-only or gone) must
    // not keep vmdesk from starting: it stays, and the next driver tries again.
    try {
      const files = vmFiles(paths, intent.id, intent.dataDir);
      if (intent.op === 'define') {
        if (fs.existsSync(files.definition)) {
          log.write(`define of ${intent.id} was interrupted after its definition was saved: kept`);
        } else {
          removePath(files.dataDir, { recursive: true, paths });
          removePath(files.logDir, { recursive: true, paths });
          log.write(`define of ${intent.id} was interrupted: its files were removed`);
        }
      } else {
        removeVmFiles(paths, intent);
        log.write(`delete of ${intent.id} was interrupted: finished`);
      }
      removePath(file, { paths });
    } catch (err) {
      log.write(
        `the interrupted ${intent.op} of ${intent.id} could not be finished (tried again at the next start): ${(err as Error).message}`,
      );
    }
  }
}

/** VM directories with no definition and no intent: shown to the user, never deleted. */
export function findOrphans(paths: AppPaths): Orphan[] {
  const defined = new Set(
    safeReaddir(definitionsDir(paths))
      .filter((n) => n.endsWith('.json'))
      .map((n) => n.slice(0, -5).toLowerCase()),
  );
  const found: Orphan[] = [];
  const scan = (dir: string, kind: Orphan['kind']) => {
    for (const n of safeReaddir(dir)) {
      if (isUuid(n) && !defined.has(n.toLowerCase())) found.push({ id: n, kind, path: path.join(dir, n) });
    }
  };
  scan(path.join(paths.data, 'vms'), 'data');
  scan(path.join(paths.state, 'logs'), 'logs');
  return found;
}
