/**
 * Fuzzing the inspector: mutated real fixture images (byte flips in the first 64 KiB, in the boot
 * catalogue, the EFI image, the UDF area, the WIM header and the root directory; hostile 16/32-bit
 * fields; truncations; random garbage) must each resolve with an IsoInfo or throw a VmdeskError,
 * quickly. Reproducible: VMDESK_FUZZ_SEED=<n> replays a run, and a failure names its seed and case.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import { inspectImage, inspectIso } from './inspect.js';
import { ImageReader, type ByteSource } from './reader.js';
import { MAX_CATALOG_ENTRIES } from './eltorito.js';
import { buildFixtures, type FixtureName } from './fixtures/build-fixtures.js';
import { prng } from '../testing/prng.js';

const SEED = Number(process.env.VMDESK_FUZZ_SEED ?? 0x1505eed);
const CASES = 2400;
/** Per case, generous for a loaded two-core CI machine; typical cases take well under 5 ms. */
const CASE_BOUND_MS = 2000;
const BASES: FixtureName[] = ['ubuntu', 'fedora', 'windows11', 'windows10udf', 'ubuntuArm', 'data'];

/** A base image seen through byte patches and a (shorter) length, without copying it. */
class Mutant implements ByteSource {
  constructor(
    private readonly base: Buffer,
    readonly size: number,
    private readonly patches: Map<number, number>,
  ) {}
  async readInto(buf: Buffer, position: number): Promise<number> {
    const n = this.base.copy(buf, 0, position, Math.min(this.size, position + buf.length));
    for (const [at, v] of this.patches) if (at >= position && at < position + n) buf[at - position] = v;
    return n;
  }
}

interface Base {
  name: string;
  data: Buffer;
  /** [start, length] ranges worth mutating. */
  regions: [number, number][];
}

let bases: Base[];
let tmp: string;

beforeAll(async () => {
  const fx = buildFixtures();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-iso-fuzz-'));
  bases = [];
  for (const name of BASES) {
    const data = fs.readFileSync(fx[name]);
    const info = await inspectIso(fx[name]);
    const regions: [number, number][] = [[0, 64 * 1024]];
    const catalog = data.readUInt32LE(17 * 2048 + 71);
    if (data.toString('latin1', 17 * 2048 + 7, 17 * 2048 + 30) === 'EL TORITO SPECIFICATION')
      regions.push([catalog * 2048, 2048]);
    // The EFI image's boot sector, then its FATs and root directory.
    for (const e of info.bootEntries.filter((b) => b.platform === 'efi'))
      regions.push([e.loadRba * 2048, 512], [e.loadRba * 2048, 16 * 1024]);
    // Every sector that carries a UDF descriptor tag (anchor, volume descriptors, file set, file entries, directories).
    for (let s = 256; info.udf && s < Math.min(data.length / 2048, 2048); s++) {
      const tag = data.readUInt16LE(s * 2048);
      if (((tag >= 1 && tag <= 9) || (tag >= 256 && tag <= 266)) && data.readUInt32LE(s * 2048 + 12) > 0)
        regions.push([s * 2048, 2048]);
    }
    const wim = data.indexOf('MSWIM\0\0\0', 0, 'latin1');
    if (wim >= 0) regions.push([wim, 1024]);
    regions.push([data.readUInt32LE(16 * 2048 + 156 + 2) * 2048, 8192]); // the root directory
    bases.push({
      name,
      data,
      regions: regions.map(
        ([s, l]) => [Math.min(s, data.length - 1), Math.max(1, Math.min(l, data.length - s))] as [number, number],
      ),
    });
  }
}, 120_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const INTERESTING = [
  0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 16, 17, 18, 256,
];

interface Case {
  kind: string;
  source: ByteSource;
  /** Small enough to also go through a real file and inspectIso. */
  bytes?: Buffer;
}

function makeCase(rnd: () => number): Case {
  const int = (n: number) => Math.floor(rnd() * n);
  const kinds = ['flip-head', 'flip-region', 'field', 'truncate', 'flip+truncate', 'garbage'];
  const kind = kinds[int(kinds.length)]!;
  if (kind === 'garbage') {
    const len = int(4) === 0 ? int(40 * 1024) : int(256 * 1024);
    const g = Buffer.alloc(len);
    let i = 0;
    for (; i + 4 <= len; i += 4) g.writeUInt32LE(int(2 ** 32), i);
    for (; i < len; i++) g[i] = int(256);
    // Plant what the reader looks for, so garbage gets past the first checks.
    if (len > 18 * 2048 && rnd() < 0.6) g.write('\x01CD001\x01', 16 * 2048, 'latin1');
    if (len > 18 * 2048 && rnd() < 0.4) g.write('\x00CD001\x01EL TORITO SPECIFICATION', 17 * 2048, 'latin1');
    if (len > 19 * 2048 && rnd() < 0.3)
      ['BEA01', 'NSR02', 'TEA01'].forEach((id, i) => g.write(`\x00${id}\x01`, (16 + i) * 2048, 'latin1'));
    return { kind, source: new Mutant(g, g.length, new Map()), bytes: g };
  }
  const base = bases[int(bases.length)]!;
  const patches = new Map<number, number>();
  let size = base.data.length;
  const region = () =>
    kind === 'flip-head' ? ([0, 64 * 1024] as [number, number]) : base.regions[int(base.regions.length)]!;
  if (kind.startsWith('flip') || kind === 'field') {
    const n = 1 + int(16);
    for (let i = 0; i < n; i++) {
      const [start, full] = region();
      // Half the mutations land in the first 64 bytes of a region, where its header fields are.
      const len = rnd() < 0.5 ? Math.min(full, 64) : full;
      if (kind === 'field') {
        const at = start + (int(len) & ~3);
        const v = INTERESTING[int(INTERESTING.length)]!;
        const bytes = Buffer.alloc(4);
        if (rnd() < 0.5) bytes.writeUInt32LE(v >>> 0);
        else bytes.writeUInt32BE(v >>> 0);
        for (let k = 0; k < 4; k++) patches.set(at + k, bytes[k]!);
      } else {
        const at = start + int(len);
        patches.set(at, rnd() < 0.5 ? int(256) : (base.data[at] ?? 0) ^ (1 << int(8)));
      }
    }
  }
  if (kind.includes('truncate')) size = rnd() < 0.5 ? int(Math.min(size, 192 * 1024)) : int(size);
  const bytes = size <= 4 * 2 ** 20 && patches.size === 0 ? base.data.subarray(0, size) : undefined;
  return { kind: `${kind} ${base.name}`, source: new Mutant(base.data, size, patches), ...(bytes ? { bytes } : {}) };
}

it(`survives ${CASES} mutated and garbage images (seed ${SEED})`, async () => {
  const started = performance.now();
  let resolved = 0;
  let refused = 0;
  let slowest = 0;
  let viaFile = 0;
  // VMDESK_FUZZ_STATS=1 prints which warnings and refusals the run reached (parser coverage).
  const stats = new Map<string, number>();
  const count = (text: string) => {
    const key = text.replace(/\d+/g, 'N').slice(0, 70);
    stats.set(key, (stats.get(key) ?? 0) + 1);
  };
  for (let i = 0; i < CASES; i++) {
    const rnd = prng(SEED + i);
    const c = makeCase(rnd);
    const where = `fuzz case ${i} (${c.kind}); replay with VMDESK_FUZZ_SEED=${SEED}`;
    const t = performance.now();
    try {
      // Every 8th small case also goes through a real file (stat, open, positioned reads).
      let info;
      if (c.bytes && i % 8 === 0) {
        const file = path.join(tmp, `case-${i}.iso`);
        fs.writeFileSync(file, c.bytes);
        viaFile++;
        try {
          info = await inspectIso(file);
        } finally {
          fs.rmSync(file, { force: true });
        }
      } else info = await inspectImage(new ImageReader(c.source), `case-${i}.iso`);
      resolved++;
      info.warnings.forEach(count);
      expect(JSON.parse(JSON.stringify(info)), where).toEqual(info);
      expect(info.bootEntries.length, where).toBeLessThanOrEqual(MAX_CATALOG_ENTRIES);
      expect(
        info.efiArchs.every((a) => a === 'x86_64' || a === 'aarch64'),
        where,
      ).toBe(true);
      expect(
        info.warnings.every((w) => typeof w === 'string' && w.length > 0),
        where,
      ).toBe(true);
    } catch (err) {
      if (!(err instanceof VmdeskError)) throw new Error(`${where}: threw ${String(err)}`, { cause: err });
      expect(err.code, where).toBe('invalid-argument');
      count(err.message);
      refused++;
    }
    const ms = performance.now() - t;
    slowest = Math.max(slowest, ms);
    if (ms > CASE_BOUND_MS) throw new Error(`${where}: took ${ms.toFixed(0)} ms`);
  }
  const total = performance.now() - started;
  if (process.env.VMDESK_FUZZ_STATS)
    console.log(
      [...stats]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${n}\t${k}`)
        .join('\n'),
    );
  console.log(
    `fuzz: ${CASES} cases, seed ${SEED}: ${resolved} inspected, ${refused} refused, ${viaFile} through files; ${total.toFixed(0)} ms total, slowest ${slowest.toFixed(1)} ms`,
  );
  expect(resolved).toBeGreaterThan(CASES / 4);
  expect(refused).toBeGreaterThan(CASES / 10);
}, 60_000);
