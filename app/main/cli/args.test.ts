import { describe, expect, it } from 'vitest';
import { GUEST_FLAG_OPTIONS, GUEST_SET_OPTIONS, guestFlags, oneOf, parse } from './args.js';

describe('guestFlags', () => {
  it('define and create: flags, and --no- flags that turn a proposal off', () => {
    const a = parse(
      ['--tpm', '--no-secure-boot', '--disk-bus', 'sata', '--nic', 'e1000e', '--clock', 'localtime'],
      GUEST_FLAG_OPTIONS,
    );
    expect(guestFlags(a.values, false)).toEqual({
      tpm: true,
      secureBoot: false,
      diskBus: 'sata',
      nic: 'e1000e',
      clock: 'localtime',
    });
    expect(guestFlags(parse([], GUEST_FLAG_OPTIONS).values, false)).toEqual({});
    expect(() => guestFlags(parse(['--tpm', '--no-tpm'], GUEST_FLAG_OPTIONS).values, false)).toThrow(
      'Give --tpm or --no-tpm, not both.',
    );
  });

  it('set: on|off values, each refused in a sentence when it is something else', () => {
    const a = parse(['--secure-boot', 'on', '--tpm', 'off', '--hyperv', 'on'], GUEST_SET_OPTIONS);
    expect(guestFlags(a.values, true)).toEqual({ secureBoot: true, tpm: false, hyperv: true });
    expect(() => guestFlags(parse(['--tpm', 'yes'], GUEST_SET_OPTIONS).values, true)).toThrow(
      '--tpm must be on or off, not "yes".',
    );
    expect(() => guestFlags(parse(['--nic', 'rtl8139'], GUEST_SET_OPTIONS).values, true)).toThrow(
      '--nic must be virtio or e1000e, not "rtl8139".',
    );
  });
});

describe('oneOf', () => {
  it('lists the choices as a sentence', () => {
    expect(() => oneOf('display', 'cirrus', ['std', 'virtio', 'none'])).toThrow(
      '--display must be std, virtio or none, not "cirrus".',
    );
    expect(oneOf('display', undefined, ['std'])).toBeUndefined();
    expect(oneOf('display', 'std', ['std', 'none'])).toBe('std');
  });
});
