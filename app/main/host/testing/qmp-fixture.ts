/** Captured QMP probe replies (./fixtures/*.qmp.json): load them for tests, or capture new ones
 * from a real QEMU. Regenerate with
 *   VMDESK_REGENERATE_FIXTURES=1 npx vitest run --project unit app/main/host/qemu-real.test.ts */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as v from 'valibot';
import { nodeSpawnQmp } from '../node-host-io.js';
import type { QmpProbeReplies } from '../qmp-probe.js';
import { PROBE_REQUESTS, QMP_PROBE_ARGS, runQmpProbe } from '../qmp-probe.js';

export const FIXTURE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
export const QEMU_72_X86_FIXTURE = path.join(FIXTURE_DIR, 'qemu-7.2-x86_64.qmp.json');

export interface QmpFixture extends QmpProbeReplies {
  /** Binary, version and package string it was captured from. */
  capturedFrom: string;
  args: string[];
}

const reply = v.union([
  v.looseObject({ return: v.unknown() }),
  v.looseObject({ error: v.looseObject({ class: v.string(), desc: v.string() }) }),
]);
const fixtureSchema = v.looseObject({
  capturedFrom: v.string(),
  args: v.array(v.string()),
  greeting: v.unknown(),
  replies: v.strictObject(Object.fromEntries(PROBE_REQUESTS.map((r) => [r.id, reply]))),
});

export function loadQmpFixture(file: string): QmpFixture {
  return v.parse(fixtureSchema, JSON.parse(readFileSync(file, 'utf8'))) as QmpFixture;
}

/** Runs the real probe against `binary` and writes what it answered to `file`. */
export async function captureQmpFixture(binary: string, file: string): Promise<QmpFixture> {
  const probe = await runQmpProbe(nodeSpawnQmp, binary);
  const ver = probe.replies['query-version'];
  const pkg = ver && 'return' in ver ? JSON.stringify(ver.return) : 'unknown version';
  const fixture: QmpFixture = { capturedFrom: `${binary} ${pkg}`, args: [...QMP_PROBE_ARGS], ...probe };
  writeFileSync(file, `${JSON.stringify(fixture, null, 1)}\n`);
  return fixture;
}
