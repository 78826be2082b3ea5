import { describe, expect, it } from 'vitest';
import { ensureMemlockFor, formatBytes, GIB, memlockFixText, memlockNeededBytes, readMemlock } from './memlock.js';
import { FakeNative } from './testing/fakes.js';

const MIB = 1024 * 1024;

describe('readMemlock', () => {
  it('reports the limits and that they came from getrlimit', () => {
    expect(readMemlock(new FakeNative())).toEqual({ soft: 8 * MIB, hard: 8 * MIB, source: 'native' });
  });

  it('reports /proc as the source when the fallback read it', () => {
    const n = FakeNative.unloaded('no koffi');
    expect(readMemlock(n).source).toBe('proc');
  });

  it('says unknown, and why, when nothing could read it', () => {
    const n = FakeNative.unloaded('no koffi');
    n.memlock = { ok: false, reason: 'reading RLIMIT_MEMLOCK on this OS needs the native layer' };
    expect(readMemlock(n)).toEqual({
      soft: null,
      hard: null,
      source: 'unknown',
      note: 'reading RLIMIT_MEMLOCK on this OS needs the native layer',
    });
  });
});

describe('ensureMemlockFor', () => {
  it('needs guest RAM plus 1 GiB', () => {
    expect(memlockNeededBytes(8 * GIB)).toBe(9 * GIB);
  });

  it('raises the soft limit up to the hard limit when that is enough', () => {
    const n = new FakeNative();
    n.memlock = { ok: true, value: { soft: 64 * 1024, hard: 'unlimited' } };
    expect(ensureMemlockFor(n, 4 * GIB, 'alice')).toEqual({
      ok: true,
      raised: true,
      limit: { soft: 'unlimited', hard: 'unlimited' },
    });
  });

  it('changes nothing when the soft limit already suffices', () => {
    const n = new FakeNative();
    n.memlock = { ok: true, value: { soft: 16 * GIB, hard: 16 * GIB } };
    expect(ensureMemlockFor(n, 4 * GIB, 'alice')).toMatchObject({ ok: true, raised: false });
  });

  it('names the limits.conf line in KiB and LimitMEMLOCK= in bytes when the hard limit is too low', () => {
    const r = ensureMemlockFor(new FakeNative(), 8 * GIB, 'alice');
    expect(r).toMatchObject({
      ok: false,
      reason: 'the hard memlock limit (8 MiB) is below the 9 GiB this VM needs (guest RAM 8 GiB + 1 GiB)',
    });
    expect(r.ok || r.fix).toContain('alice hard memlock 9437184');
    expect(r.ok || r.fix).toContain('LimitMEMLOCK=9663676416');
  });

  it('says it cannot raise the limit without the native layer, with the same fix', () => {
    const n = FakeNative.unloaded('koffi missing');
    n.memlock = { ok: true, value: { soft: 8 * MIB, hard: 'unlimited' } };
    const r = ensureMemlockFor(n, GIB, 'alice');
    expect(r).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/cannot raise the soft memlock limit to unlimited: .*koffi missing/),
    });
  });
});

describe('memlockFixText', () => {
  it('prints both the soft and hard limits.conf lines and the systemd setting', () => {
    expect(memlockFixText('bob', 2 * GIB)).toBe(
      [
        'add to /etc/security/limits.conf (login sessions; takes effect after logging out and in):',
        '    bob hard memlock 2097152',
        '    bob soft memlock 2097152',
        'or, when vmdesk runs from a systemd unit (service or user manager): LimitMEMLOCK=2147483648',
      ].join('\n'),
    );
  });
});

describe('formatBytes', () => {
  it('uses the largest exact binary unit, or one decimal', () => {
    expect(formatBytes(8 * MIB)).toBe('8 MiB');
    expect(formatBytes(65536)).toBe('64 KiB');
    expect(formatBytes(1.5 * GIB)).toBe('1.5 GiB');
    expect(formatBytes('unlimited')).toBe('unlimited');
    expect(formatBytes(null)).toBe('unknown');
  });
});
