/**
 * Hostile VM files: mutations of a valid definition (byte flips, truncations, type swaps,
 * prototype keys, huge values, names of invisible or direction-changing characters, forward
 * floods, values nested deeper than any parser's stack). The loader must return `ok` or `broken`
 * with a short reason every time — never throw, never hang — and `ok` only for a name the contract
 * takes and at most MAX_FORWARDS forwards (overlapping forwards from older files still load: they
 * are refused at start).
 */
import { describe, expect, it } from 'vitest';
import { vmNameProblem } from '../common/names.js';
import { MAX_FORWARDS, PLAIN_GUEST } from '../common/vm-types.js';
import { parseDefinitionText } from './definition-store.js';
import { prng } from '../testing/prng.js';

const GOOD = JSON.stringify({
  version: 3,
  ...PLAIN_GUEST,
  id: '11111111-2222-4333-8444-555555555555',
  name: 'web',
  arch: 'x86_64',
  memoryMiB: 1024,
  cpus: 2,
  accel: 'auto',
  firmware: 'bios',
  disks: [{ target: 'vda', path: '/vms/web.qcow2', format: 'qcow2', owned: true, readOnly: false }],
  cdroms: [],
  boot: ['disk'],
  network: { mode: 'user', forwards: [{ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222, guestPort: 22 }] },
  display: 'std',
  nvram: null,
  mdevs: [],
  createdAt: '2025-01-02T03:04:05.000Z',
});
const ID = '11111111-2222-4333-8444-555555555555';

describe('VM file loader under hostile input', () => {
  it('returns ok or broken with a short reason for 10 000 mutated files', () => {
    const seed = Number(process.env.VMDESK_FUZZ_SEED ?? 7);
    const rand = prng(seed);
    const swaps = [
      'null',
      '[]',
      '{}',
      '"x"',
      '-1',
      '1e999',
      '"' + 'y'.repeat(100_000) + '"',
      '{"__proto__":{"polluted":1}}',
      'true',
      '"\\u202e"',
      '"web\\u200bserver"',
      '"\\ud800"',
      '"\\u3164"',
      '"a\\u2066b"',
      '[' + '['.repeat(40_000) + ']'.repeat(40_000) + ']',
      '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_000),
    ];
    const forwardFlood = (n: number) =>
      JSON.stringify(Array.from({ length: n }, (_, i) => ({ proto: 'tcp', hostPort: 1 + i, guestPort: 22 })));
    const overlapping = JSON.stringify([
      { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222, guestPort: 22 },
      { proto: 'tcp', hostAddr: '0.0.0.0', hostPort: 2222, guestPort: 80 },
    ]);
    const counts = { ok: 0, broken: 0 };
    expect(parseDefinitionText(GOOD, ID, '/f.json').ok).toBe(true);
    for (let i = 0; i < 10_000; i++) {
      let text = GOOD;
      const kind = Math.floor(rand() * 5);
      if (kind === 0) {
        const chars = [...text];
        for (let n = 1 + Math.floor(rand() * 4); n > 0; n--)
          chars[Math.floor(rand() * chars.length)] = String.fromCharCode(Math.floor(rand() * 128));
        text = chars.join('');
      } else if (kind === 1) {
        text = text.slice(0, Math.floor(rand() * text.length));
      } else if (kind === 2) {
        // The fields the contract limits: the name, the forwards.
        const spoof = swaps[9 + Math.floor(rand() * 5)]!;
        const r = rand();
        if (r < 0.4) text = text.replace('"name":"web"', `"name":${spoof}`);
        else if (r < 0.7)
          text = text.replace(
            /"forwards":\[.*?\]/,
            `"forwards":${forwardFlood(MAX_FORWARDS + Math.floor(rand() * 9500))}`,
          );
        else if (r < 0.85) text = text.replace(/"forwards":\[.*?\]/, `"forwards":${overlapping}`);
        else text = text.replace(/"forwards":\[.*?\]/, `"forwards":${forwardFlood(Math.floor(rand() * MAX_FORWARDS))}`);
      } else {
        // Replace one value (after a ':') with something of another type.
        const colons = [...text.matchAll(/:/g)].map((m) => m.index!);
        const at = colons[Math.floor(rand() * colons.length)]!;
        const end = text.slice(at + 1).search(/[,}\]]/);
        text = text.slice(0, at + 1) + swaps[Math.floor(rand() * swaps.length)] + text.slice(at + 1 + Math.max(end, 0));
      }
      const r = parseDefinitionText(text, ID, '/f.json');
      if (r.ok) {
        counts.ok++;
        expect(vmNameProblem(r.definition.name), text.slice(0, 200)).toBeUndefined();
        expect(r.definition.network.forwards.length).toBeLessThanOrEqual(MAX_FORWARDS);
      } else {
        counts.broken++;
        expect(r.reason.length).toBeGreaterThan(10);
        expect(r.reason.length).toBeLessThan(1000);
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(counts.broken).toBeGreaterThan(5000);
    console.log(`loader fuzz (seed ${seed}): ${JSON.stringify(counts)}`);
  }, 60_000);
});
