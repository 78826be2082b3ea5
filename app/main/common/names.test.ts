import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { isSysfsName, isUuid, isVmName, MAX_NAME_CHARS, normalizeVmName, sameVmName, vmNameProblem } from './names.js';
import { SysfsNameSchema, UuidSchema, VmDefinitionSchema, VmNameSchema, PLAIN_GUEST } from './vm-types.js';

describe('the VM name rule', () => {
  it.each([
    ['Debian 12'],
    ['web-server_2'],
    ['Ünïcode'],
    ['日本語のVM'],
    ['a'],
    ['x'.repeat(MAX_NAME_CHARS)],
    ['emoji 🐧'],
    ['Ελληνικά'],
    ['नमस्ते'],
    ['e\u0301\u0302 two accents'],
    ['dots.in.the.middle'],
  ])('accepts %j', (name) => {
    expect(vmNameProblem(name)).toBeUndefined();
    expect(isVmName(name)).toBe(true);
  });

  it.each([
    ['', /empty/],
    ['   ', /empty/],
    ['x'.repeat(MAX_NAME_CHARS + 1), /at most 64 characters; this one has 65/],
    ['a/b', /"\/"/],
    ['.hidden', /start with "\."/],
    ['tab\there', /control characters/],
    ['del\u007f', /control characters/],
    [' padded', /spaces/],
    ['padded ', /spaces/],
    ['\u202e', /text-direction controls \(U\+202E\)/],
    ['evil\u202eexe.iso', /text-direction controls \(U\+202E\)/],
    ['a\u2066b', /text-direction controls \(U\+2066\)/],
    ['\u200b', /invisible characters \(U\+200B/],
    ['web\u200bserver', /invisible characters \(U\+200B/],
    ['joined\u200d', /invisible characters \(U\+200D/],
    ['\ufeffbom', /invisible characters \(U\+FEFF/],
    ['\u3164', /invisible characters \(U\+3164/],
    ['lone \ud800 surrogate', /unpaired UTF-16 surrogate/],
    ['\udc00', /unpaired UTF-16 surrogate/],
    ['c1\u0085control', /control characters/],
    ['nb\u00a0space', /ordinary spaces only, not U\+00A0/],
    ['ideographic\u3000space', /ordinary spaces only, not U\+3000/],
    ['line\u2028break', /ordinary spaces only, not U\+2028/],
    ['private \ue000', /private-use/],
    // Found by review: these passed the first version of the rule.
    ['cgj\u034f', /invisible characters \(U\+034F/],
    ['a\ufe0f', /invisible characters \(U\+FE0F/],
    ['vs\u{e0100}', /invisible characters \(U\+E0100/],
    ['khmer\u17b4', /invisible characters \(U\+17B4/],
    ['mongolian\u180b', /invisible characters \(U\+180B/],
    ['tag\u{e0041}', /invisible characters \(U\+E0041/],
    ['broken \ufffd', /U\+FFFD/],
    ['non\ufffe', /noncharacters/],
    ['\u0301accent', /start with a combining mark/],
    ['z\u0301\u0302\u0303\u0304\u0305algo', /at most 4 accents/],
  ])('refuses %j with a sentence saying why', (name, why) => {
    expect(vmNameProblem(name)).toMatch(why);
    expect(isVmName(name)).toBe(false);
  });

  it('counts code points, not UTF-16 units', () => {
    expect(vmNameProblem('🐧'.repeat(MAX_NAME_CHARS))).toBeUndefined();
    expect(vmNameProblem('🐧'.repeat(MAX_NAME_CHARS + 1))).toMatch(/at most/);
  });

  it('refuses every name the fuzzer can build from invisible or direction-changing characters', () => {
    const bad = ['\u202e', '\u202d', '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u061c', '\u200e', '\u200f'];
    for (const b of bad) for (const around of [b, `x${b}`, `${b}x`, `a${b}b`]) expect(isVmName(around)).toBe(false);
  });

  it('stores names in NFC: the two spellings of "é" become one', () => {
    expect(normalizeVmName('cafe\u0301')).toBe('caf\u00e9');
    expect(vmNameProblem(normalizeVmName('cafe\u0301'))).toBeUndefined();
  });

  it('treats the two spellings of "é" as one name (NFC)', () => {
    expect(sameVmName('caf\u00e9', 'cafe\u0301')).toBe(true);
    expect(sameVmName('Cafe', 'cafe')).toBe(false);
  });

  it('VmNameSchema reports the same sentence as vmNameProblem', () => {
    const r = v.safeParse(VmNameSchema, 'a/b');
    expect(r.success).toBe(false);
    expect(r.issues?.[0]?.message).toBe('A VM name cannot contain "/".');
    expect(v.safeParse(VmNameSchema, 42).success).toBe(false);
  });
});

describe('the UUID rule', () => {
  it.each([
    ['0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b'],
    ['83B8F4F2-509F-382F-3C1E-E6BFE0FA1001'],
    ['00000000-0000-0000-0000-000000000000'],
  ])('accepts %s (any version, either case)', (s) => {
    expect(isUuid(s)).toBe(true);
    expect(v.is(UuidSchema, s)).toBe(true);
  });

  it.each([
    [''],
    ['not-a-uuid'],
    ['0f3c1a2b6d7e4f809a1b2c3d4e5f6a7b'],
    ['{0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b}'],
    ['0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b\n'],
    [' 0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b'],
    ['0f3c1a2g-6d7e-4f80-9a1b-2c3d4e5f6a7b'],
    ['../../etc/passwd'],
    [42],
    [null],
  ])('refuses %j', (s) => {
    expect(isUuid(s)).toBe(false);
    expect(v.is(UuidSchema, s)).toBe(false);
  });

  it('says what a UUID looks like', () => {
    expect(v.safeParse(UuidSchema, 'nope').issues?.[0]?.message).toMatch(/not a UUID \(like [0-9a-f-]{36}\)/);
  });
});

describe('the sysfs name rule (mdev parents and types)', () => {
  it.each([['0000:00:02.0'], ['mtty'], ['i915-GVTg_V5_4'], ['nvidia-63'], ['a'.repeat(128)]])('accepts %s', (s) => {
    expect(isSysfsName(s)).toBe(true);
    expect(v.is(SysfsNameSchema, s)).toBe(true);
  });

  it.each([[''], ['.'], ['..'], ['.hidden'], ['a/b'], ['a b'], ['a'.repeat(129)], ['mtty\n']])('refuses %j', (s) => {
    expect(isSysfsName(s)).toBe(false);
    expect(v.is(SysfsNameSchema, s)).toBe(false);
  });
});

describe('the definition file schema uses the same rules', () => {
  const def = {
    version: 3,
    ...PLAIN_GUEST,
    id: '0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b',
    name: 'Debian 12',
    arch: 'x86_64',
    memoryMiB: 1024,
    cpus: 1,
    accel: 'auto',
    firmware: 'bios',
    disks: [],
    cdroms: [],
    boot: ['disk'],
    network: { mode: 'user', forwards: [] },
    display: 'std',
    createdAt: '2025-01-01T00:00:00.000Z',
  };

  it('accepts a valid definition', () => {
    expect(v.safeParse(VmDefinitionSchema, def).success).toBe(true);
  });

  it('refuses a name, id or mdev parent that the rules refuse', () => {
    expect(v.safeParse(VmDefinitionSchema, { ...def, name: '.x' }).issues?.[0]?.message).toBe(
      'A VM name cannot start with ".".',
    );
    expect(v.safeParse(VmDefinitionSchema, { ...def, id: 'x' }).success).toBe(false);
    const mdev = { uuid: '83b8f4f2-509f-382f-3c1e-e6bfe0fa1001', type: 'mtty-2', parent: 'mtty', display: false };
    expect(v.safeParse(VmDefinitionSchema, { ...def, mdevs: [mdev] }).success).toBe(true);
    expect(v.safeParse(VmDefinitionSchema, { ...def, mdevs: [{ ...mdev, parent: '..' }] }).success).toBe(false);
  });
});
