/**
 * `vmdesk clone VM NEW [--linked] [--progress] [--json]`: a copy of a stopped VM as a new VM.
 * A full clone copies every disk (progress on stderr when it is a terminal, or with --progress;
 * Ctrl+C cancels it and nothing of the clone is kept); --linked makes overlays on the original's
 * disks instead, which then stay read-only for as long as the clone exists.
 */
import crypto from 'node:crypto';
import type { CallName, CallParams, CallResults, ContractEvents, EventName, JobProgress } from '../common/contract.js';
import type { VmSummary } from '../common/vm-types.js';
import { parse, usageError } from './args.js';

export interface CloneIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream & { isTTY?: boolean };
}

export type Call = <C extends CallName>(method: C, params: CallParams<C>) => Promise<CallResults[C]>;
export type Subscribe = (
  listener: <E extends EventName>(name: E, data: ContractEvents[E]) => void,
) => Promise<() => void>;

/** Runs `handler` on Ctrl+C until the returned disposer is called (tests pass their own). */
export type OnInterrupt = (handler: () => void) => () => void;

const onSigint: OnInterrupt = (handler) => {
  process.on('SIGINT', handler);
  return () => process.off('SIGINT', handler);
};

const USAGE = '`vmdesk clone` takes the VM and the name of the new one: vmdesk clone VM NEW [--linked] [--json]';

export async function runClone(
  args: string[],
  io: CloneIo,
  call: Call,
  subscribe?: Subscribe,
  onInterrupt: OnInterrupt = onSigint,
): Promise<number> {
  const a = parse(args, { linked: { type: 'boolean' }, progress: { type: 'boolean' } });
  if (a.positionals.length !== 2) throw usageError(USAGE);
  const [vm, name] = a.positionals as [string, string];
  const json = !!a.values.json;
  const linked = !!a.values.linked;
  const jobId = `cli-${crypto.randomUUID()}`;
  const tty = !!io.err.isTTY;
  const showProgress = !linked && (tty || !!a.values.progress);
  let lastLine = '';
  const unsubscribe = showProgress
    ? await subscribe?.((event, data) => {
        if (event !== 'job.progress') return;
        const p = data as JobProgress;
        if (p.jobId !== jobId) return;
        const line = progressLine(p);
        if (line === lastLine) return;
        lastLine = line;
        io.err.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
      })
    : undefined;
  let cancelling = false;
  const offInterrupt = onInterrupt(() => {
    if (cancelling) return;
    cancelling = true;
    io.err.write(`${tty && lastLine ? '\n' : ''}Cancelling the clone…\n`);
    // The clone's own call then fails with "cancelled", once what it made is removed.
    void call('job.cancel', { jobId }).catch(() => undefined);
  });
  try {
    const made = await call('vm.clone', { vm, name, jobId, ...(linked ? { linked } : {}) });
    if (tty && lastLine) io.err.write('\n');
    io.out.write(json ? JSON.stringify(made, null, 2) + '\n' : cloneSentence(vm, made) + '\n');
    return 0;
  } catch (err) {
    if (tty && lastLine && !cancelling) io.err.write('\n');
    throw err;
  } finally {
    offInterrupt();
    unsubscribe?.();
  }
}

function bytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(0)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

/** "Copying vda (disk0.qcow2): 1.2 GiB of 20.0 GiB (6 %)". */
export function progressLine(p: JobProgress): string {
  if (p.totalBytes <= 0) return p.what;
  const pct = Math.floor((p.doneBytes / p.totalBytes) * 100);
  return `${p.what}: ${bytes(p.doneBytes)} of ${bytes(p.totalBytes)} (${pct} %)`;
}

/** What was made, in a sentence (and the notice about what was not copied, if any). */
export function cloneSentence(source: string, made: VmSummary): string {
  const disks = made.definition?.disks ?? [];
  const overlays = disks.filter((d) => d.backing);
  let how: string;
  if (overlays.length > 0) {
    const reads = overlays.map((d) => `${d.target} reads through ${d.backing}`).join(', ');
    how = ` (linked: ${reads}, which stay${overlays.length === 1 ? 's' : ''} read-only while "${made.name}" exists)`;
  } else if (disks.length > 0) {
    how = ` (full: ${disks.length === 1 ? 'its disk' : `its ${disks.length} disks`} copied into ${dirOf(disks[0]!.path)})`;
  } else how = '';
  const notice = made.notice ? `\n${made.notice}` : '';
  return `Cloned "${source}" as "${made.name}"${how}.${notice}\nStart it with: vmdesk start "${made.name}"`;
}

function dirOf(file: string): string {
  return file.slice(0, file.lastIndexOf('/') + 1);
}
