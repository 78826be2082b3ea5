/** Picks the transport: the Electron preload, the demo fake (`#demo`, demo builds only), or `vmdesk web`. */
import type { VmdeskApi } from '../../main/common/api.js';
import { createFakeApi, type FakeApi } from '../dev/fake-api.js';
import { electronApi } from './electron-api.js';
import { tokenFromHash, WebApi } from './web-api.js';

const TOKEN_KEY = 'vmdesk.token';

/**
 * Set by esbuild's `define` (scripts/build-renderer.mjs): true only in the demo build
 * (`--demo`, dist/renderer-demo/). In the production bundle the demo branch below is dead code,
 * so esbuild drops it and with it the whole fake backend (dev/), which a test checks.
 */
declare const __VMDESK_DEMO__: boolean;

declare global {
  /** The demo fake, for dev scripts (simulateReconnect). */
  interface Window {
    vmdeskFake?: FakeApi;
  }
}

export function pickApi(): VmdeskApi {
  if (__VMDESK_DEMO__ && /^#demo\b/.test(location.hash)) {
    const fake = createFakeApi({ empty: location.hash.includes('empty') });
    window.vmdeskFake = fake;
    return fake;
  }
  const electron = electronApi();
  if (electron) return electron;
  // Keep the token out of the address bar (screenshots, screen sharing) but survive a reload.
  let token = tokenFromHash(location.hash);
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, '', location.pathname + location.search);
  } else {
    token = sessionStorage.getItem(TOKEN_KEY);
  }
  return new WebApi(token ?? '', location);
}
