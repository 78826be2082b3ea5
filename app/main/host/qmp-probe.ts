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

/** The QOM types whose presence the caps report: accelerators (asked with `qom-list-properties`,
 * which finds built-in types) and devices (asked with `device-list-properties`, which also loads
 * the device's module: Debian builds virtio-vga and virtio-gpu-pci as modules). Not
 * `qom-list-types`: it loads every QOM module first (~10 ms of a ~30 ms probe), and not
 * `query-cpu-definitions`: it instantiates every CPU model (~14 ms). A type QEMU lacks is an
 * error reply ("Class 'hvf-accel' not found"). Only the devices whose presence changes a command
 * line are asked about: each costs QEMU an instance of the device (qemu-xhci's ~9 ms on a slow
 * 2-core machine, a tenth of the whole probe). */
export const PROBED_ACCEL_TYPES = ['kvm-accel', 'hvf-accel', 'tcg-accel'] as const;
export const PROBED_DEVICE_TYPES = ['vfio-pci', 'virtio-vga'] as const;

export interface ProbeRequest {
  /** The key of the reply in QmpProbeReplies (and the QMP `id`). */
  id: string;
  execute: string;
  arguments?: Record<string, unknown>;
}

/** Sent after qmp_capabilities, pipelined in one write; each reply is kept under its request's id.
 * Only the one command-line option the caps need is asked about (the whole list is ~18 KB of
 * JSON; a QEMU without `-sandbox` answers with an error). */
export const PROBE_REQUESTS: readonly ProbeRequest[] = [
  { id: 'query-version', execute: 'query-version' },
  { id: 'query-target', execute: 'query-target' },
  { id: 'query-machines', execute: 'query-machines' },
  { id: 'query-command-line-options', execute: 'query-command-line-options', arguments: { option: 'sandbox' } },
  ...PROBED_ACCEL_TYPES.map((t) => ({
    id: typeProbeId(t),
    execute: 'qom-list-properties',
    arguments: { typename: t },
  })),
  ...PROBED_DEVICE_TYPES.map((t) => ({
    id: typeProbeId(t),
    execute: 'device-list-properties',
    arguments: { typename: t },
  })),
];

/** The reply id of the question "does QEMU have the QOM type `type`?". */
export function typeProbeId(type: string): string {
  return `type ${type}`;
}

/** What QEMU answered: the `return` value per command, or its `error` object. This is also the
 * shape of the captured fixtures in ./fixtures/. */
export interface QmpProbeReplies {
  greeting: unknown;
  replies: Record<string, { return: unknown } | { error: { class: string; desc: string } }>;
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

type Reply = QmpProbeReplies['replies'][string];

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

/** Spawns `binary` with QMP_PROBE_ARGS, asks PROBE_REQUESTS and resolves with the last reply; it
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
    const replies: Record<string, Reply> = {};
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
        for (const r of PROBE_REQUESTS) proc.write(JSON.stringify(r));
        return;
      }
      if (phase === 'querying' && typeof id === 'string' && PROBE_REQUESTS.some((r) => r.id === id)) {
        const reply = asReply(msg);
        if (reply) replies[id] = reply;
        if (PROBE_REQUESTS.every((r) => replies[r.id])) {
          phase = 'done';
          clearTimeout(timer);
          proc.write(JSON.stringify({ execute: 'quit', id: 'quit' }));
          graceTimer = setTimeout(() => proc.kill(), exitGraceMs);
          resolve({ greeting, replies });
        }
      }
    });
  });
}
