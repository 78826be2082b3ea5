/** One capability probe of a QEMU binary over `-qmp stdio`. Deliberately not the driver's
 * QmpClient (app/main/qemu): this is a fixed, one-shot exchange with a process that has no guest,
 * and the host layer must not depend on the VM-side machinery. */
import type { QmpProcess, SpawnQmp } from './host-io.js';

/** No guest, no devices, no config files, no display, paused: QEMU starts in ~20 ms and touches
 * nothing on the host. */
export const QMP_PROBE_ARGS = [
  '-machine',
  'none',
  '-nodefaults',
  '-no-user-config',
  '-display',
  'none',
  '-S',
  '-qmp',
  'stdio',
] as const;

/** Sent after qmp_capabilities; each command's reply is kept under its name. Not
 * `query-cpu-definitions`: it instantiates every CPU model (~14 ms of a ~45 ms probe under TCG),
 * and `qom-list-types` already names every CPU type (qemu-caps.ts derives the models from it). */
export const PROBE_COMMANDS = [
  'query-version',
  'query-target',
  'query-machines',
  'qom-list-types',
  'query-command-line-options',
] as const;
export type ProbeCommand = (typeof PROBE_COMMANDS)[number];

/** Arguments of the commands that take some: only the one option the caps need (the whole
 * option list is ~18 KB of JSON; a QEMU without `-sandbox` answers this with an error). */
export const PROBE_ARGUMENTS: Partial<Record<ProbeCommand, Record<string, unknown>>> = {
  'query-command-line-options': { option: 'sandbox' },
};

/** What QEMU answered: the `return` value per command, or its `error` object. This is also the
 * shape of the captured fixtures in ./fixtures/. */
export interface QmpProbeReplies {
  greeting: unknown;
  replies: Record<ProbeCommand, { return: unknown } | { error: { class: string; desc: string } }>;
}

export class QmpProbeError extends Error {
  override readonly name = 'QmpProbeError';
  constructor(
    readonly binary: string,
    message: string,
    readonly stderr: string,
  ) {
    super(stderr.trim() ? `${message}: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : message);
  }
}

export interface QmpProbeOptions {
  /** The whole exchange, start to quit. A cold QEMU answers in < 100 ms; 15 s covers a loaded CI box. */
  timeoutMs?: number;
  /** After the last reply, how long the process may take to exit on `quit` before SIGKILL. */
  exitGraceMs?: number;
}

type Reply = QmpProbeReplies['replies'][ProbeCommand];

function parseLine(line: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined; // not a QMP message (QEMU writes warnings to stderr, but be lenient)
  }
}

function asReply(msg: Record<string, unknown>): Reply | undefined {
  if ('return' in msg) return { return: msg['return'] };
  const e = msg['error'];
  if (typeof e === 'object' && e !== null) {
    const { class: cls, desc } = e as Record<string, unknown>;
    return { error: { class: String(cls), desc: String(desc) } };
  }
  return undefined;
}

/** Spawns `binary` with QMP_PROBE_ARGS, asks PROBE_COMMANDS and resolves with the last reply; it
 * then sends `quit` and the process ends on its own (SIGKILL after `exitGraceMs`), off the
 * caller's critical path (a first start waits for the probe). Rejects with QmpProbeError (early
 * exit, spawn failure, timeout, refused negotiation). */
export function runQmpProbe(
  spawnQmp: SpawnQmp,
  binary: string,
  options: QmpProbeOptions = {},
): Promise<QmpProbeReplies> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const exitGraceMs = options.exitGraceMs ?? 2_000;
  return new Promise<QmpProbeReplies>((resolve, reject) => {
    let proc: QmpProcess;
    try {
      proc = spawnQmp(binary, QMP_PROBE_ARGS);
    } catch (err) {
      reject(new QmpProbeError(binary, `cannot start ${binary}: ${(err as Error).message}`, ''));
      return;
    }
    let phase: 'greeting' | 'negotiating' | 'querying' | 'done' = 'greeting';
    let greeting: unknown;
    const replies: Partial<Record<ProbeCommand, Reply>> = {};
    let graceTimer: ReturnType<typeof setTimeout> | undefined;

    const fail = (message: string, stderr = ''): void => {
      if (phase === 'done') return;
      phase = 'done';
      clearTimeout(timer);
      proc.kill();
      reject(new QmpProbeError(binary, message, stderr));
    };
    const timer = setTimeout(
      () => fail(`${binary} did not answer the capability probe within ${timeoutMs} ms`),
      timeoutMs,
    );

    proc.onExit((exit) => {
      clearTimeout(graceTimer);
      if (phase === 'done') return; // answered already: this is the exit `quit` asked for
      const how = exit.error ?? (exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`);
      fail(`${binary} ${exit.error ? 'could not start' : 'stopped'} during the capability probe (${how})`, exit.stderr);
    });

    proc.onLine((line) => {
      const msg = parseLine(line);
      if (!msg || 'event' in msg) return; // events (e.g. SHUTDOWN after quit) carry nothing we need
      if (phase === 'greeting' && 'QMP' in msg) {
        greeting = msg['QMP'];
        phase = 'negotiating';
        proc.write(JSON.stringify({ execute: 'qmp_capabilities', id: 'qmp_capabilities' }));
        return;
      }
      const id = msg['id'];
      if (phase === 'negotiating' && id === 'qmp_capabilities') {
        if (!('return' in msg)) return fail(`${binary} refused qmp_capabilities: ${line}`);
        phase = 'querying';
        // Pipelined: QMP answers in order, and one round trip instead of one per command keeps the probe fast.
        for (const cmd of PROBE_COMMANDS) {
          const args = PROBE_ARGUMENTS[cmd];
          proc.write(JSON.stringify({ execute: cmd, ...(args ? { arguments: args } : {}), id: cmd }));
        }
        return;
      }
      if (phase === 'querying' && typeof id === 'string' && (PROBE_COMMANDS as readonly string[]).includes(id)) {
        const reply = asReply(msg);
        if (reply) replies[id as ProbeCommand] = reply;
        if (PROBE_COMMANDS.every((c) => replies[c])) {
          phase = 'done';
          clearTimeout(timer);
          proc.write(JSON.stringify({ execute: 'quit', id: 'quit' }));
          graceTimer = setTimeout(() => proc.kill(), exitGraceMs);
          resolve({ greeting, replies: replies as QmpProbeReplies['replies'] });
        }
      }
    });
  });
}
