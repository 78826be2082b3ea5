/**
 * mdevctl's persistent definitions (/etc/mdevctl.d), read through `mdevctl list --defined
 * --dumpjson`. The JSON is an array of objects keyed by parent, each holding an array of objects
 * keyed by UUID (mdevctl tests/list/default/defined.json):
 *   [{"0000:00:02.0": [{"4a0a190f-…": {"mdev_type": "i915-GVTg_V5_8", "start": "auto", "attrs": []}}]}]
 */
import type { RunCommand } from '../host/host-io.js';
import type { MdevctlDefinition } from '../common/mdev-types.js';

export const MDEVCTL_TIMEOUT_MS = 10_000;

export type MdevctlList =
  { installed: false } | { installed: true; definitions: Omit<MdevctlDefinition, 'active'>[]; error?: string };

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Parses the dump; anything of an unexpected shape is skipped, not fatal. Throws only for invalid JSON. */
export function parseMdevctlDump(stdout: string): Omit<MdevctlDefinition, 'active'>[] {
  if (stdout.trim() === '') return []; // mdevctl prints nothing when nothing is defined
  const data: unknown = JSON.parse(stdout);
  const out: Omit<MdevctlDefinition, 'active'>[] = [];
  for (const byParent of Array.isArray(data) ? data : [data]) {
    if (!isObject(byParent)) continue;
    for (const [parent, devices] of Object.entries(byParent)) {
      if (!Array.isArray(devices)) continue;
      for (const byUuid of devices) {
        if (!isObject(byUuid)) continue;
        for (const [uuid, def] of Object.entries(byUuid)) {
          if (!isObject(def) || typeof def.mdev_type !== 'string') continue;
          out.push({
            uuid: uuid.toLowerCase(),
            parent,
            type: def.mdev_type,
            start: typeof def.start === 'string' ? def.start : 'manual',
          });
        }
      }
    }
  }
  return out;
}

/** Never rejects: a missing mdevctl is `installed: false`, a failing one carries its words. */
export async function listMdevctlDefinitions(run: RunCommand): Promise<MdevctlList> {
  const r = await run('mdevctl', ['list', '--defined', '--dumpjson'], { timeoutMs: MDEVCTL_TIMEOUT_MS });
  if (r.code === null && r.error && /ENOENT/.test(r.error)) return { installed: false };
  if (r.code !== 0) {
    const why = (r.stderr.trim() || r.error || `exit code ${r.code}`).split('\n')[0];
    return { installed: true, definitions: [], error: `mdevctl list failed: ${why}` };
  }
  try {
    return { installed: true, definitions: parseMdevctlDump(r.stdout) };
  } catch (err) {
    return {
      installed: true,
      definitions: [],
      error: `mdevctl printed something that is not JSON (${(err as Error).message})`,
    };
  }
}
