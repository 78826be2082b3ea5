/** The native layer's entry point. Main process only: the renderer never sees it (it gets the
 * results through the contract). koffi is loaded on the first `getNative()` call, not at import,
 * so a missing or broken koffi costs nothing until a host probe needs it. */
import { createFallbackNative } from './fallback-native.js';
import type { KoffiNativeOptions } from './koffi-native.js';
import { createKoffiNative } from './koffi-native.js';
import type { NativeHost } from './native-host.js';

export type { FlockResult, NativeHost, NativeResult, Rlimit, RlimitValue } from './native-host.js';
export {
  KVM_API_VERSION,
  KVM_CAP_MAX_VCPUS,
  KVM_CAP_NR_VCPUS,
  KVM_CAP_USER_MEMORY,
  NativeCallError,
} from './native-host.js';
export { createFallbackNative } from './fallback-native.js';
export { createKoffiNative } from './koffi-native.js';
export { parseProcMemlock } from './proc-limits.js';

/** Tries koffi, and on any failure returns the pure-JS fallback carrying the reason. Never throws. */
export function loadNative(options: KoffiNativeOptions = {}): NativeHost {
  try {
    return createKoffiNative(options);
  } catch (err) {
    const loadError = err instanceof Error ? (err.message.split('\n')[0] ?? String(err)) : String(err);
    return createFallbackNative({ loadError, ...(options.platform ? { platform: options.platform } : {}) });
  }
}

let shared: NativeHost | undefined;

/** The process-wide NativeHost, loaded on first use. `VMDESK_NATIVE=off` forces the fallback
 * (to check the app without FFI, or to get around a koffi crash in the field). */
export function getNative(): NativeHost {
  if (!shared) {
    shared =
      process.env['VMDESK_NATIVE'] === 'off'
        ? createFallbackNative({ loadError: 'disabled by VMDESK_NATIVE=off' })
        : loadNative();
  }
  return shared;
}
