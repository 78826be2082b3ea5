/** The Electron window: the preload exposes an object implementing VmdeskApi as window.vmdesk. */
import type { ConnectionState, VmdeskApi } from '../../main/common/api.js';

declare global {
  interface Window { vmdesk?: VmdeskApi }
}

export function electronApi(): VmdeskApi | null {
  const api = window.vmdesk;
  if (!api) return null;
  return {
    call: (method, params) => api.call(method, params),
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
