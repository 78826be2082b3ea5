import { describe, expect, it } from 'vitest';
import { VmdeskError } from '../../../main/common/errors.js';
import { vmNameProblem } from '../../../main/common/names.js';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { sampleDefinition } from '../../dev/fake-data.js';
import {
  bootDeviceProblem,
  bootEntries,
  bootOrder,
  changedFields,
  diskBusNote,
  firmwareNote,
  secureBootNote,
  tpmNote,
  withFirmware,
  formEdited,
  moveBootEntry,
  rebase,
  toggleBootEntry,
  withNetwork,
  describeSettings,
  placeSettingsError,
  defaultShareTag,
  shareProblem,
  sharesNote,
  runsNow,
  settingsBase,
  toUpdateInput,
  type SettingsBase,
} from './settings-form.js';

const ID = '8b1e0f57-2c4d-4e6f-a1b3-9d8c7e6f5a41';
const vm: VmSummary = {
  id: ID,
  name: 'fedora',
  state: 'stopped',
  definition: sampleDefinition(ID, 'fedora', { memoryMiB: 2048, cpus: 2, boot: ['disk'], display: 'std' }),
  file: `/home/ada/.config/vmdesk/vms/${ID}.json`,
  revision: 'r7',
};
const base = settingsBase(vm)!;

describe('the Settings form', () => {
  it("loads a VM's definition as text, with the revision it was read at", () => {
    expect(base).toEqual({
      form: {
        name: 'fedora',
        memory: '2048',
        cpus: '2',
        accel: 'auto',
        firmware: 'uefi',
        boot: [
          { device: 'disk', on: true },
          { device: 'cdrom', on: false },
          { device: 'network', on: false },
        ],
        display: 'std',
        network: 'user',
        secureBoot: false,
        tpm: false,
        diskBus: 'virtio',
        nic: 'virtio',
        clock: 'utc',
        hyperv: false,
        shares: [],
        sound: false,
        clipboard: false,
        usb: [],
        autostart: false,
      },
      revision: 'r7',
    });
  });

  it('has nothing to load for a broken VM', () => {
    expect(settingsBase({ id: ID, name: 'x', state: 'broken', file: '/f.json' })).toBeUndefined();
  });

  it('sends only the changed fields, with the revision', () => {
    const boot = moveBootEntry(toggleBootEntry(base.form.boot, 'cdrom', true), 1, -1);
    const r = toUpdateInput(ID, base, { ...base.form, memory: '4096', boot });
    expect(r).toEqual({ input: { vm: ID, revision: 'r7', memoryMiB: 4096, boot: ['cdrom', 'disk'] } });
  });

  it('sends every field when every field changed', () => {
    const r = toUpdateInput(ID, base, {
      name: 'fedora-2',
      memory: '1024',
      cpus: '4',
      accel: 'tcg',
      firmware: 'bios',
      boot: bootEntries(['network', 'cdrom', 'disk']),
      display: 'virtio',
      network: 'user',
      secureBoot: false,
      tpm: true,
      diskBus: 'sata',
      nic: 'e1000e',
      clock: 'localtime',
      hyperv: true,
      shares: [{ path: '/home/ada/projects', tag: 'projects', readOnly: true }],
      sound: true,
      clipboard: true,
      usb: [{ vendorId: '046d', productId: 'c52b' }],
      autostart: true,
    });
    expect(r).toEqual({
      input: {
        vm: ID,
        revision: 'r7',
        name: 'fedora-2',
        memoryMiB: 1024,
        cpus: 4,
        accel: 'tcg',
        firmware: 'bios',
        tpm: true,
        boot: ['network', 'cdrom', 'disk'],
        display: 'virtio',
        diskBus: 'sata',
        nic: 'e1000e',
        clock: 'localtime',
        hyperv: true,
        shares: [{ path: '/home/ada/projects', tag: 'projects', readOnly: true }],
        sound: true,
        clipboard: true,
        usb: [{ vendorId: '046d', productId: 'c52b' }],
        autostart: true,
      },
    });
  });

  it('loads "Start with vmdesk" (off when the definition never had it) and sends only it when only it changed', () => {
    const flagged = settingsBase({ ...vm, definition: { ...vm.definition!, autostart: true } })!;
    expect(flagged.form.autostart).toBe(true);
    expect(base.form.autostart).toBe(false);
    expect(toUpdateInput(ID, base, { ...base.form, autostart: true })).toEqual({
      input: { vm: ID, revision: 'r7', autostart: true },
    });
    expect(toUpdateInput(ID, flagged, { ...flagged.form, autostart: false })).toEqual({
      input: { vm: ID, revision: 'r7', autostart: false },
    });
  });

  it('sends no revision when the summary carried none', () => {
    const old: SettingsBase = { form: base.form };
    expect(toUpdateInput(ID, old, { ...base.form, cpus: '3' })).toEqual({ input: { vm: ID, cpus: 3 } });
  });

  it('counts a number typed differently but equal as unchanged', () => {
    expect(changedFields(base.form, { ...base.form, memory: ' 2048 ', cpus: '2.0' })).toEqual([]);
    expect(toUpdateInput(ID, base, { ...base.form, memory: '2048 ' })).toEqual({ unchanged: true });
  });

  it('refuses numbers it cannot read before asking the driver', () => {
    expect(toUpdateInput(ID, base, { ...base.form, memory: '', cpus: 'two' })).toEqual({
      errors: { memory: 'Enter the memory in MiB, e.g. 2048.', cpus: 'Enter a number of CPUs, e.g. 2.' },
    });
  });

  it("refuses a new name by the driver's own rule, before asking it", () => {
    expect(toUpdateInput(ID, base, { ...base.form, name: 'evil\u202eexe' })).toEqual({
      errors: { name: vmNameProblem('evil\u202eexe') },
    });
    expect(toUpdateInput(ID, base, { ...base.form, name: '' })).toEqual({ errors: { name: vmNameProblem('') } });
  });

  it('does not judge a name that did not change', () => {
    // An older vmdesk may have stored a name today's rule refuses; changing the memory must still work.
    const legacy: SettingsBase = { form: { ...base.form, name: ' odd ' }, revision: 'r1' };
    expect(toUpdateInput(ID, legacy, { ...legacy.form, memory: '512' })).toEqual({
      input: { vm: ID, revision: 'r1', memoryMiB: 512 },
    });
  });

  it("puts the driver's refusal next to the field it names", () => {
    const e = (field: string) => new VmdeskError('invalid-argument', `bad ${field}`, { field });
    expect(placeSettingsError(e('name'))).toEqual({ name: 'bad name' });
    expect(placeSettingsError(e('memory'))).toEqual({ memory: 'bad memory' });
    expect(placeSettingsError(e('memoryMiB'))).toEqual({ memory: 'bad memoryMiB' });
    expect(placeSettingsError(e('cpus'))).toEqual({ cpus: 'bad cpus' });
    expect(placeSettingsError(e('boot'))).toEqual({ boot: 'bad boot' });
    expect(placeSettingsError(e('display'))).toEqual({ display: 'bad display' });
    expect(placeSettingsError(e('accel'))).toEqual({ accel: 'bad accel' });
    expect(placeSettingsError(e('firmware'))).toEqual({ firmware: 'bad firmware' });
    expect(placeSettingsError(e('network'))).toEqual({ network: 'bad network' });
    const taken = new VmdeskError('name-taken', 'A VM named "x" already exists. Choose another name.', {
      field: 'name',
    });
    expect(placeSettingsError(taken)).toEqual({ name: taken.message });
  });

  it('tells a stale revision apart, so the form can offer to reload', () => {
    // As the driver refuses it (VmInstance.update).
    const stale = new VmdeskError(
      'invalid-state',
      '"fedora" was changed since you opened it (in another window or in its file). Look at it again and make your change once more.',
      { field: 'revision' },
    );
    expect(placeSettingsError(stale)).toEqual({ stale: stale.message });
    expect(placeSettingsError(new VmdeskError('invalid-state', 'changed'))).toEqual({ stale: 'changed' });
  });

  it('puts anything else above the form', () => {
    expect(placeSettingsError(new VmdeskError('storage', 'disk full'))).toEqual({ form: 'disk full' });
    expect(placeSettingsError(new VmdeskError('invalid-argument', 'what', { field: 'revision' }))).toEqual({
      form: 'what',
    });
    expect(placeSettingsError(new Error('lost'))).toEqual({ form: 'lost' });
  });

  it('reads pending field names as their label and new value, and keeps sentences', () => {
    const d = {
      ...vm.definition!,
      memoryMiB: 8192,
      cpus: 6,
      display: 'virtio' as const,
      accel: 'tcg' as const,
      boot: ['cdrom' as const, 'disk' as const],
    };
    expect(describeSettings(['memory', 'cpus', 'display', 'accel', 'boot', 'firmware', 'network'], d)).toEqual([
      'Memory: 8 GiB',
      'CPUs: 6',
      'Display: Virtio GPU',
      'Accelerator: TCG',
      'Boot order: CD-ROM, then disk',
      'Firmware: UEFI (OVMF)',
      'Network: User-mode NAT',
    ]);
    // The driver's own lines (app/main/vm/settings.ts settingsDiff) are sentences already.
    expect(describeSettings(['memoryMiB', 'Boot order: disk → CD-ROM, then disk'], undefined)).toEqual([
      'Memory',
      'Boot order: disk → CD-ROM, then disk',
    ]);
    expect(describeSettings(undefined, d)).toEqual([]);
  });

  it('treats a VM with QEMU as running for "applies at next start"', () => {
    expect(['starting', 'running', 'paused', 'stopping'].every((s) => runsNow(s as VmSummary['state']))).toBe(true);
    expect(['stopped', 'crashed', 'broken'].some((s) => runsNow(s as VmSummary['state']))).toBe(false);
  });
});

describe('the boot order editor', () => {
  it('lists the booted devices in order, then the others switched off', () => {
    expect(bootEntries(['cdrom', 'disk'])).toEqual([
      { device: 'cdrom', on: true },
      { device: 'disk', on: true },
      { device: 'network', on: false },
    ]);
    expect(bootOrder(bootEntries(['network']))).toEqual(['network']);
  });

  it('moves an entry up or down and leaves the ends alone', () => {
    const e = bootEntries(['disk', 'cdrom', 'network']);
    expect(bootOrder(moveBootEntry(e, 2, -1))).toEqual(['disk', 'network', 'cdrom']);
    expect(bootOrder(moveBootEntry(e, 0, 1))).toEqual(['cdrom', 'disk', 'network']);
    expect(moveBootEntry(e, 0, -1)).toEqual(e);
    expect(moveBootEntry(e, 2, 1)).toEqual(e);
  });

  it('counts only the booted devices and their order as a change, not where an unused one sits', () => {
    const moved = moveBootEntry(base.form.boot, 2, -1); // network above CD-ROM, both off
    expect(formEdited(base.form, { ...base.form, boot: moved })).toBe(true);
    expect(changedFields(base.form, { ...base.form, boot: moved })).toEqual([]);
  });

  it('refuses an empty boot order before asking the driver', () => {
    const none = toggleBootEntry(base.form.boot, 'disk', false);
    expect(toUpdateInput(ID, base, { ...base.form, boot: none })).toEqual({
      errors: { boot: 'Switch on at least one device to boot from (usually the disk).' },
    });
  });

  it('takes the network out of the boot order when the network is turned off, keeping a device to boot', () => {
    const netOnly = { ...base.form, boot: bootEntries(['network']) };
    const off = withNetwork(netOnly, 'none');
    expect(bootOrder(off.boot)).toEqual(['disk']);
    expect(toUpdateInput(ID, base, off)).toEqual({ input: { vm: ID, revision: 'r7', network: 'none' } });
    const both = withNetwork({ ...base.form, boot: bootEntries(['network', 'disk']) }, 'none');
    expect(bootOrder(both.boot)).toEqual(['disk']);
  });

  it('says why a device cannot be booted: no CD-ROM drive, or the network off', () => {
    expect(bootDeviceProblem('cdrom', base.form, 0)).toMatch(/No CD-ROM drive/);
    expect(bootDeviceProblem('cdrom', base.form, 1)).toBeUndefined();
    expect(bootDeviceProblem('network', { ...base.form, network: 'none' }, 1)).toMatch(/network is off/);
    expect(bootDeviceProblem('disk', base.form, 0)).toBeUndefined();
  });
});

describe('firmware', () => {
  const d = vm.definition!;
  it('says before saving that a switch to UEFI starts a fresh variable store, or reuses a kept one', () => {
    expect(firmwareNote({ ...d, firmware: 'bios', nvram: null }, 'uefi')).toMatch(/fresh, empty UEFI variable store/);
    expect(firmwareNote({ ...d, firmware: 'bios', nvram: '/v/OVMF_VARS.fd' }, 'uefi')).toMatch(/kept from before/);
  });

  it('says that going back to BIOS keeps the store unused', () => {
    expect(firmwareNote({ ...d, firmware: 'uefi' }, 'bios')).toMatch(/kept, unused/);
  });

  it('says an aarch64 VM has no BIOS', () => {
    expect(firmwareNote({ ...d, arch: 'aarch64' }, 'uefi')).toMatch(/always boots UEFI/);
  });
});

describe('Secure Boot, the TPM and the guest devices', () => {
  const d = vm.definition!;

  it('turns Secure Boot off with a switch to BIOS, and sends both, as the driver does', () => {
    const sb = settingsBase({ ...vm, definition: { ...d, secureBoot: true } })!;
    const bios = withFirmware(sb.form, 'bios');
    expect(bios).toMatchObject({ firmware: 'bios', secureBoot: false });
    expect(toUpdateInput(ID, sb, bios)).toEqual({
      input: { vm: ID, revision: 'r7', firmware: 'bios', secureBoot: false },
    });
    // Back to UEFI: Secure Boot comes back only when asked for.
    expect(withFirmware(bios, 'uefi')).toMatchObject({ firmware: 'uefi', secureBoot: false });
  });

  it('sends Secure Boot with the firmware for a BIOS VM that switches to UEFI in the same change', () => {
    const b = settingsBase({ ...vm, definition: { ...d, firmware: 'bios' } })!;
    expect(toUpdateInput(ID, b, { ...withFirmware(b.form, 'uefi'), secureBoot: true })).toEqual({
      input: { vm: ID, revision: 'r7', firmware: 'uefi', secureBoot: true },
    });
  });

  it('offers Secure Boot only for UEFI on x86_64, and says what a BIOS VM must do', () => {
    const bios = { ...d, firmware: 'bios' as const };
    expect(secureBootNote(bios, { firmware: 'bios', secureBoot: false })).toEqual({
      enabled: false,
      text: expect.stringMatching(/^Secure Boot is part of UEFI: choose UEFI as the firmware first\./),
    });
    expect(secureBootNote(bios, { firmware: 'uefi', secureBoot: false }).enabled).toBe(true);
    expect(secureBootNote({ ...d, arch: 'aarch64' }, { firmware: 'uefi', secureBoot: false })).toEqual({
      enabled: false,
      text: expect.stringMatching(/x86_64 VMs only/),
    });
    expect(secureBootNote(d, { firmware: 'uefi', secureBoot: true }).text).toMatch(/keys enrolled/);
    expect(secureBootNote({ ...d, secureBoot: true }, { firmware: 'uefi', secureBoot: false }).text).toMatch(
      /^Back to the variable store without keys/,
    );
    expect(secureBootNote({ ...d, secureBoot: true }, { firmware: 'bios', secureBoot: false }).text).toBe(
      'BIOS has no Secure Boot: it goes off with UEFI.',
    );
  });

  it('warns before a TPM is taken away from a guest that used it', () => {
    expect(tpmNote({ tpm: true }, false)).toMatch(/BitLocker recovery key/);
    expect(tpmNote({ tpm: false }, true)).toMatch(/^A TPM 2.0 emulated by swtpm/);
  });

  it('warns that Windows installed on SATA does not boot from virtio without its driver', () => {
    const win = {
      ...d,
      devices: { disk: 'sata' as const, nic: 'e1000e' as const },
      os: { id: 'w', name: 'Microsoft Windows 11' },
    };
    expect(diskBusNote(win, 'virtio')).toMatch(/INACCESSIBLE_BOOT_DEVICE/);
    expect(diskBusNote({ ...win, os: undefined }, 'virtio')).toMatch(/^Linux has virtio drivers built in/);
  });

  it("puts the driver's refusals about them next to their inputs", () => {
    for (const field of ['secureBoot', 'tpm', 'diskBus', 'nic', 'clock', 'hyperv'] as const)
      expect(placeSettingsError(new VmdeskError('invalid-argument', 'no', { field }))).toEqual({ [field]: 'no' });
  });

  it('reads them in the "changed meanwhile" list as their label and value', () => {
    const win = { ...d, secureBoot: true, tpm: true, devices: { disk: 'sata' as const, nic: 'e1000e' as const } };
    expect(
      describeSettings(['secureBoot', 'tpm', 'diskBus', 'nic', 'clock', 'hyperv'], {
        ...win,
        clock: 'localtime',
        hyperv: true,
      }),
    ).toEqual([
      'Secure Boot: On',
      'TPM 2.0: On',
      'Disk bus: SATA',
      'Network card: Intel e1000e',
      'Clock: Local time',
      'Hyper-V enlightenments: On',
    ]);
  });
});

describe('a draft over device changes', () => {
  it('moves to the fresh revision when only devices changed (its own buttons), so the save is not refused', () => {
    const fresh = { form: base.form, revision: 'r8' };
    expect(rebase(base, fresh)).toEqual({ form: base.form, revision: 'r8' });
  });

  it('keeps the old revision when one of its fields changed meanwhile, so the save is refused as stale', () => {
    const fresh = { form: { ...base.form, cpus: '8' }, revision: 'r8' };
    expect(rebase(base, fresh)).toBe(base);
  });
});

describe('desktop integration in the form', () => {
  it('sends the whole list of shared folders when one is added, and nothing for an unchanged list', () => {
    const shares = [{ path: '/srv/data', tag: 'data', readOnly: false }];
    expect(toUpdateInput(ID, base, { ...base.form, shares, sound: true })).toEqual({
      input: { vm: ID, revision: 'r7', shares, sound: true },
    });
    expect(toUpdateInput(ID, base, { ...base.form, shares: [] })).toEqual({ unchanged: true });
  });

  it('reads the pending shared-folder and sound lines with their stored values', () => {
    const d = sampleDefinition(ID, 'fedora', {
      shares: [{ path: '/srv/data', tag: 'data', readOnly: true }],
      sound: true,
      usb: [{ vendorId: '046d', productId: 'c52b' }],
    });
    expect(describeSettings(['shares', 'sound', 'usb', 'clipboard'], d)).toEqual([
      'Shared folders: data (read-only)',
      'Sound: On',
      'USB devices: 046d:c52b',
      'Shared clipboard: Off',
    ]);
  });

  it('makes a tag the guest can mount from the folder name, unique among the VM’s shares', () => {
    expect(defaultShareTag('/home/ada/My Projects/', [])).toBe('My_Projects');
    expect(defaultShareTag('/home/ada/.config', [])).toBe('config');
    expect(defaultShareTag('/srv/data', ['data', 'data2'])).toBe('data3');
    expect(defaultShareTag('/', [])).toBe('share');
  });

  it('refuses a relative path, a second share of one folder, a bad or taken tag, and one share too many', () => {
    const shares = [{ path: '/srv/data', tag: 'data', readOnly: false }];
    const draft = (path: string, tag: string) => ({ path, tag, readOnly: false });
    expect(shareProblem(draft('projects', 'p'), shares, 8)?.path).toMatch(/full path/);
    expect(shareProblem(draft('/srv/data', 'd2'), shares, 8)?.path).toMatch(/shared already/);
    expect(shareProblem(draft('/srv/x', '-x'), shares, 8)?.tag).toMatch(/starting with a letter or digit/);
    expect(shareProblem(draft('/srv/x', 'data'), shares, 8)?.tag).toMatch(/Another shared folder/);
    expect(shareProblem(draft('/srv/x', 'x'), shares, 1)?.path).toMatch(/at most 1 shared/);
    expect(shareProblem(draft('/srv/x', 'x'), shares, 8)).toBeUndefined();
  });

  it('tells Windows guests they need WinFsp and the virtio-fs driver', () => {
    expect(sharesNote({ os: { id: 'http://microsoft.com/win/11', name: 'Microsoft Windows 11' } })).toMatch(
      /WinFsp.*virtio-fs driver/,
    );
    expect(sharesNote({})).toMatch(/mount -t virtiofs/);
  });

  it('places a refusal about USB devices or shares next to its field', () => {
    const err = new VmdeskError('invalid-argument', 'no display, no USB', { field: 'usb' });
    expect(placeSettingsError(err)).toEqual({ usb: 'no display, no USB' });
    expect(placeSettingsError(new VmdeskError('invalid-argument', 'x', { field: 'shares' }))).toEqual({ shares: 'x' });
  });
});
