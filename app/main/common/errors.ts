/**
 * Errors that cross every boundary (IPC, WebSocket, control socket, CLI exit codes) as
 * `{code, message, details}`. The message is for a person: it says what is wrong and what to do.
 */

/** Codes for problems the user can fix (CLI exit 1). Anything else is internal (exit 2). */
export const USER_ERROR_CODES = [
  'invalid-argument',
  'not-found',
  'name-taken',
  'invalid-state',
  'disk-in-use',
  'vm-broken',
  'no-qemu',
  'no-firmware',
  /** A VM with a TPM, and no swtpm on this host (the message names the package). */
  'no-swtpm',
  /** The guest agent did not answer (none runs in the guest, or it is busy). */
  'guest-agent',
  'accel-unavailable',
  'socket-path-too-long',
  'runtime-dir-unsafe',
  'owner-elsewhere',
  'insufficient-resources',
  'timeout',
  'cancelled',
  'unsupported',
  /** QEMU refused or failed; the message carries its own words (a locked disk, a bad option). */
  'qemu-failed',
  /** vmdesk's own directories are full, read-only or not writable by the user (paths/storage-errors.ts). */
  'storage',
] as const;

export type UserErrorCode = (typeof USER_ERROR_CODES)[number];
export type ErrorCode = UserErrorCode | 'internal';

export interface SerializedError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export class VmdeskError extends Error {
  override readonly name = 'VmdeskError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toJSON(): SerializedError {
    return this.details
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }

  static fromJSON(e: SerializedError): VmdeskError {
    return new VmdeskError(e.code, e.message, e.details);
  }
}

export function isUserError(code: ErrorCode): boolean {
  return (USER_ERROR_CODES as readonly string[]).includes(code);
}

/** Anything thrown, as it crosses a boundary. Unknown errors keep their message but are `internal`. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof VmdeskError) return err.toJSON();
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'internal', message };
}
