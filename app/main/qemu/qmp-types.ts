/** The QMP client's public surface (implemented in qmp-client.ts). */

export type QmpState = 'idle' | 'connecting' | 'negotiating' | 'running' | 'disconnecting' | 'closed';

export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

/** An error QEMU returned for a command (`{"error": {"class", "desc"}}`). */
export class QmpCommandError extends Error {
  override readonly name = 'QmpCommandError';
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QEMU refused ${command}: ${desc} (${errorClass})`);
  }
}

/** The connection is gone or never came up; `cause` keeps the root cause. */
export class QmpConnectionError extends Error {
  override readonly name = 'QmpConnectionError';
}

/** No reply arrived within the per-request timeout. */
export class QmpTimeoutError extends Error {
  override readonly name = 'QmpTimeoutError';
  constructor(
    readonly command: string,
    readonly timeoutMs: number,
  ) {
    super(`QEMU did not answer ${command} within ${timeoutMs} ms`);
  }
}
