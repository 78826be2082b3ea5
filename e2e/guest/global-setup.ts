// vitest globalSetup of the integration project: build the test guest once, before any test
// file runs (the first cold build takes a few seconds, see build-guest.sh).
//
// The path is handed to the tests through process.env, not provide/inject: globalSetup runs in
// the main vitest process before the pool starts its workers, and workers (forks or threads)
// copy process.env when they start. Checked by guest.int.test.ts ("globalSetup exported ...").
// env also reaches code that is not a test (helpers, child processes) without vitest imports.
import { ensureTestGuest, GUEST_ISO_ENV } from './guest.js';

export default async function setup(): Promise<void> {
  const { iso } = await ensureTestGuest();
  process.env[GUEST_ISO_ENV] = iso;
}
