/**
 * A run record says which QEMU process runs a VM and where its sockets are. It lives in the
 * state dir (not the runtime dir) so that a driver started later, even with another
 * XDG_RUNTIME_DIR, finds and adopts the VM.
 */
import fs from 'node:fs';
import * as v from 'valibot';
import { writeFileAtomic } from './atomic-file.js';
import { HelperRecordSchema } from './helper-process.js';

export const RunRecordSchema = v.object({
  id: v.string(),
  /** 0 while QEMU is being spawned: the record is written first, so a driver that dies in
   * between leaves a record pointing at the VM's pidfile instead of an orphan nobody knows. */
  pid: v.pipe(v.number(), v.integer(), v.minValue(0)),
  binary: v.string(),
  accel: v.picklist(['kvm', 'hvf', 'tcg']),
  accelReason: v.string(),
  runtimeDir: v.string(),
  qmpSocket: v.string(),
  serialSocket: v.string(),
  vncSocket: v.string(),
  pidfile: v.string(),
  /** Disks (real paths) opened read-write, to refuse a second VM using one. */
  disks: v.array(v.string()),
  startedAt: v.string(),
  /** The processes the run owns besides QEMU (swtpm, virtiofsd), started before it and ended
   * after it (vm/helper-process.ts). */
  helpers: v.optional(v.array(HelperRecordSchema)),
  /** What the user asked for while this QEMU ran: an exit during it is not a crash. */
  intent: v.optional(v.picklist(['shutdown', 'stop'])),
});
export type RunRecord = v.InferOutput<typeof RunRecordSchema>;

export function readRunRecord(file: string): RunRecord | undefined {
  try {
    const parsed = v.safeParse(RunRecordSchema, JSON.parse(fs.readFileSync(file, 'utf8')));
    return parsed.success ? parsed.output : undefined;
  } catch {
    return undefined;
  }
}

export function writeRunRecord(file: string, rec: RunRecord): void {
  // Atomic, not fsynced (two fsyncs cost ~5 ms of every start on a busy disk): it describes a
  // running process, and after a power loss there is none; a torn file reads as no record.
  writeFileAtomic(file, JSON.stringify(rec, null, 2) + '\n', 0o600, false);
}
