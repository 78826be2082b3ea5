/** On-disk cache of per-binary probe results, so a warm `probeHost()` spawns nothing.
 * One JSON file per (kind, binary path); the entry is valid only while the binary's size and
 * mtime are unchanged (a package upgrade changes both). A file that does not parse or does not
 * match the schema is never trusted: it is reported and rebuilt. */
import { createHash } from 'node:crypto';
import path from 'node:path';
import * as v from 'valibot';
import type { HostFs } from './host-io.js';
import { errnoOf } from './host-io.js';

/** Bump when a probe learns something new, so older cache files count as stale, not corrupt. */
export const PROBE_CACHE_SCHEMA = 3;

export interface BinaryIdentity {
  path: string;
  size: number;
  mtimeMs: number;
}

export async function binaryIdentity(fs: HostFs, binary: string): Promise<BinaryIdentity> {
  const s = await fs.stat(binary);
  return { path: binary, size: s.size, mtimeMs: s.mtimeMs };
}

/** `<cacheDir>/<kind>-<sha256(path) prefix>.json`: the path may be long or contain slashes. */
export function cacheFileFor(cacheDir: string, kind: string, binary: string): string {
  const digest = createHash('sha256').update(binary).digest('hex').slice(0, 16);
  return path.join(cacheDir, `${kind}-${digest}.json`);
}

const envelope = v.strictObject({
  schema: v.number(),
  kind: v.string(),
  binary: v.string(),
  size: v.number(),
  mtimeMs: v.number(),
  data: v.unknown(),
});

export type CacheLookup<T> =
  { hit: true; value: T } | { hit: false; why: 'absent' | 'stale' | 'corrupt'; detail: string };

export async function readProbeCache<T>(
  fs: HostFs,
  cacheDir: string,
  kind: string,
  id: BinaryIdentity,
  schema: v.GenericSchema<unknown, T>,
): Promise<CacheLookup<T>> {
  const file = cacheFileFor(cacheDir, kind, id.path);
  let text: string;
  try {
    text = await fs.readText(file);
  } catch (err) {
    const code = errnoOf(err);
    const absent = code === 'ENOENT' || code === 'ENOTDIR';
    return { hit: false, why: absent ? 'absent' : 'corrupt', detail: `${file}: ${code ?? (err as Error).message}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { hit: false, why: 'corrupt', detail: `${file} is not JSON` };
  }
  const env = v.safeParse(envelope, json);
  if (!env.success) return { hit: false, why: 'corrupt', detail: `${file} has the wrong shape` };
  const e = env.output;
  if (
    e.schema !== PROBE_CACHE_SCHEMA ||
    e.kind !== kind ||
    e.binary !== id.path ||
    e.size !== id.size ||
    e.mtimeMs !== id.mtimeMs
  ) {
    return { hit: false, why: 'stale', detail: `${file} describes another build of ${id.path}` };
  }
  const data = v.safeParse(schema, e.data);
  if (!data.success)
    return { hit: false, why: 'corrupt', detail: `${file}: ${v.summarize(data.issues).split('\n')[0]}` };
  return { hit: true, value: data.output };
}

export async function writeProbeCache(
  fs: HostFs,
  cacheDir: string,
  kind: string,
  id: BinaryIdentity,
  data: unknown,
): Promise<void> {
  const body = { schema: PROBE_CACHE_SCHEMA, kind, binary: id.path, size: id.size, mtimeMs: id.mtimeMs, data };
  await fs.writeTextAtomic(cacheFileFor(cacheDir, kind, id.path), `${JSON.stringify(body)}\n`);
}

/** Probes in flight, by cache file (cache dir + kind + binary): callers that come while one runs
 * share it, so one binary is never probed twice at once in this process (the driver's prewarm,
 * a start and `host.info` arriving together). Dropped once settled: later callers read the cache. */
const inFlight = new Map<string, Promise<{ value: unknown; fromCache: boolean; notes: string[] }>>();

/**
 * The cached value for `binary` when its identity matches, else `compute()` stored for next time.
 * Corrupt entries and failed writes are appended to `notes` (the probe still succeeds: the cache
 * only saves time). The binary is stat'ed once, before compute, so a binary replaced during the
 * probe is re-probed next time rather than cached under the new identity. Concurrent calls for
 * one cache file share one lookup and one compute (the first caller's `compute` and `schema`).
 */
export async function cachedProbe<T>(
  fs: HostFs,
  cacheDir: string,
  kind: string,
  binary: string,
  schema: v.GenericSchema<unknown, T>,
  compute: () => Promise<T>,
  notes: string[],
): Promise<{ value: T; fromCache: boolean }> {
  const key = cacheFileFor(cacheDir, kind, binary);
  let shared = inFlight.get(key);
  if (!shared) {
    shared = lookupOrCompute(fs, cacheDir, kind, binary, schema, compute).finally(() => inFlight.delete(key));
    inFlight.set(key, shared);
  }
  const r = await shared;
  notes.push(...r.notes);
  return { value: r.value as T, fromCache: r.fromCache };
}

async function lookupOrCompute<T>(
  fs: HostFs,
  cacheDir: string,
  kind: string,
  binary: string,
  schema: v.GenericSchema<unknown, T>,
  compute: () => Promise<T>,
): Promise<{ value: T; fromCache: boolean; notes: string[] }> {
  const notes: string[] = [];
  const id = await binaryIdentity(fs, binary);
  const cached = await readProbeCache(fs, cacheDir, kind, id, schema);
  if (cached.hit) return { value: cached.value, fromCache: true, notes };
  if (cached.why === 'corrupt') notes.push(`ignored a corrupt probe cache entry and rebuilt it (${cached.detail})`);
  const value = await compute();
  try {
    await writeProbeCache(fs, cacheDir, kind, id, value);
  } catch (err) {
    notes.push(
      `could not write the probe cache in ${cacheDir} (${errnoOf(err) ?? (err as Error).message}); every start will re-probe QEMU`,
    );
  }
  return { value, fromCache: false, notes };
}
