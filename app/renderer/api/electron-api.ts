/** The Electron window: the preload exposes an object implementing VmdeskApi as window.vmdesk. */
import type { ConnectionState, VmdeskApi, VmdeskShellApi } from '../../main/common/api.js';
import { VmdeskError, type ErrorCode } from '../../main/common/errors.js';

declare global {
  interface Window {
    vmdesk?: VmdeskApi;
    vmdeskShell?: VmdeskShellApi;
  }
}

/** Errors from the preload come from another JS world as plain Errors with code/details:
 * rebuild them so `instanceof VmdeskError` holds in the renderer. */
function asVmdeskError(err: unknown): unknown {
  if (err instanceof VmdeskError || typeof err !== 'object' || err === null) return err;
  const e = err as { code?: unknown; message?: unknown; details?: unknown };
  if (typeof e.code !== 'string' || typeof e.message !== 'string') return err;
  return new VmdeskError(
    e.code as ErrorCode,
    e.message,
    typeof e.details === 'object' && e.details !== null ? (e.details as Record<string, unknown>) : undefined,
  );
}

export function electronApi(): VmdeskApi | null {
  const api = window.vmdesk;
  if (!api) return null;
  return {
    call: (method, params) =>
      api.call(method, params).catch((err: unknown) => {
        throw asVmdeskError(err);
      }),
    onEvent: (listener) => api.onEvent(listener),
    openStream: (name, params) => api.openStream(name, params),
    // IPC is up as long as the window exists: say so at once, whether or not the preload does
    // (the store ignores a repeated 'open').
    onConnection: (listener: (s: ConnectionState) => void) => {
      listener('open');
      return api.onConnection(listener);
    },
  };
}
