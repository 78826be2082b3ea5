/**
 * The `defaultFirmware` setting on top of vmdesk's own proposal (real fixture ISOs made with
 * xorriso): followed where the disc and the OS allow it, ignored where they do not.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildFixtures, type FixtureName } from '../iso/fixtures/build-fixtures.js';
import { FakeHost } from './testing/fake-host.js';
import { planFromIso, withFirmwarePreference } from './iso-plan.js';

let fx: Record<FixtureName, string>;
beforeAll(() => {
  fx = buildFixtures();
}, 120_000);

class UefiHost extends FakeHost {
  constructor() {
    super('/usr/bin/qemu-system-x86_64');
  }
  override async uefiFirmware() {
    return { code: '/c.fd', varsTemplate: '/v.fd', smm: false };
  }
}

describe('withFirmwarePreference', () => {
  it('proposes BIOS for a Linux disc that boots both ways when the user prefers BIOS', async () => {
    const plan = await planFromIso(fx.debian12, new UefiHost(), []);
    expect(plan.defaults.firmware).toBe('uefi');
    expect(withFirmwarePreference(plan, 'bios', true).defaults.firmware).toBe('bios');
    expect(withFirmwarePreference(plan, 'auto', true)).toBe(plan);
  });

  it('keeps UEFI for an OS that needs it (Windows 11 with Secure Boot) and for an EFI-only disc', async () => {
    const win = await planFromIso(fx.windows11, new UefiHost(), []);
    expect(withFirmwarePreference(win, 'bios', true).defaults.firmware).toBe(win.defaults.firmware);
    const efiOnly = await planFromIso(fx.ubuntuArm, new UefiHost(), []);
    expect(efiOnly.defaults.firmware).toBe('uefi');
    expect(withFirmwarePreference(efiOnly, 'bios', true).defaults.firmware).toBe('uefi');
  });

  it('proposes UEFI only when the disc boots through UEFI and the host has UEFI firmware', async () => {
    const noUefi = new FakeHost('/usr/bin/qemu-system-x86_64');
    const plan = await planFromIso(fx.debian12, noUefi, []);
    expect(plan.defaults.firmware).toBe('bios');
    expect(withFirmwarePreference(plan, 'uefi', false).defaults.firmware).toBe('bios');
    expect(withFirmwarePreference(plan, 'uefi', true).defaults.firmware).toBe('uefi');
  });
});
