/** The api the page runs on, chosen once at start-up (main.tsx) and read by features that open streams. */
import type { VmdeskApi } from '../../main/common/api.js';
import type { FileIntake } from './file-intake.js';

let current: VmdeskApi | null = null;

export function setApi(a: VmdeskApi): void {
  current = a;
}

export function api(): VmdeskApi {
  if (!current) throw new Error('setApi() was not called');
  return current;
}

let intake: FileIntake | null = null;

/** How dropped and picked files reach the driver (null: this page cannot take files). */
export function setIntake(i: FileIntake | null): void {
  intake = i;
}

export function fileIntake(): FileIntake | null {
  return intake;
}
