/** The api the page runs on, chosen once at start-up (main.tsx) and read by features that open streams. */
import type { VmdeskApi } from '../../main/common/api.js';

let current: VmdeskApi | null = null;

export function setApi(a: VmdeskApi): void {
  current = a;
}

export function api(): VmdeskApi {
  if (!current) throw new Error('setApi() was not called');
  return current;
}
