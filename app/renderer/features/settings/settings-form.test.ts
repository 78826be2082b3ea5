import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, SETTING_KEYS, type SettingsReport } from '../../../main/common/settings-types.js';
import { fieldOfError, formFromReport, toSettingsChange } from './settings-form.js';

const saved: SettingsReport = {
  file: '/home/ada/.config/vmdesk/settings.json',
  values: { ...DEFAULT_SETTINGS, defaultAccel: 'tcg' },
  sources: {
    ...(Object.fromEntries(SETTING_KEYS.map((k) => [k, 'default'])) as SettingsReport['sources']),
    defaultAccel: 'env',
  },
  env: { defaultAccel: 'VMDESK_ACCEL' },
  fileValues: {},
  notes: [],
};

describe('the Preferences form', () => {
  it('shows the settings in force: the log cap in MiB, port 0 as empty', () => {
    expect(formFromReport(saved)).toMatchObject({ logCapMiB: '8', webPort: '', defaultAccel: 'tcg' });
  });

  it('sends only what changed, never a setting the environment decides', () => {
    const form = { ...formFromReport(saved), defaultAccel: 'kvm' as const, logCapMiB: '0.5', webPort: '8080' };
    expect(toSettingsChange(form, saved)).toEqual({ change: { logCapBytes: 524288, webPort: 8080 } });
    expect(toSettingsChange(formFromReport(saved), saved)).toEqual({ change: {} });
  });

  it('reports every wrong field at once', () => {
    const form = { ...formFromReport(saved), logCapMiB: 'big', webListen: 'my-laptop', webPort: '65536' };
    const r = toSettingsChange(form, saved);
    expect(r).toEqual({
      errors: {
        logCapMiB: 'The log cap must be a number of MiB, like 8.',
        webListen: 'The listen address must be an IP address, like 127.0.0.1 or ::1, not "my-laptop".',
        webPort: 'The web port must be a whole number from 1 to 65535; leave it empty for any free port.',
      },
    });
    expect(toSettingsChange({ ...formFromReport(saved), logCapMiB: '0.01' }, saved)).toEqual({
      errors: { logCapMiB: 'The log cap must be between 0.0625 MiB (64 KiB) and 1024 MiB.' },
    });
  });

  it('accepts IPv6 and IPv4 listen addresses, and places a driver error on its field', () => {
    expect(toSettingsChange({ ...formFromReport(saved), webListen: '::1' }, saved)).toEqual({
      change: { webListen: '::1' },
    });
    expect(toSettingsChange({ ...formFromReport(saved), webListen: '256.1.1.1' }, saved)).toHaveProperty('errors');
    expect(fieldOfError('x', 'values.webPort')).toBe('webPort');
    expect(fieldOfError('Invalid arguments for settings.set: values.logCapBytes ...', undefined)).toBe('logCapMiB');
    expect(fieldOfError('The disk is full.', undefined)).toBeUndefined();
  });

  it('takes a folder as a whole path (a trailing slash dropped) or empty for vmdesk’s own, and says so otherwise', () => {
    const f = formFromReport(saved);
    expect(toSettingsChange({ ...f, vmFolder: 'VMs', isoFolder: '~/ISOs' }, saved)).toEqual({
      errors: {
        vmFolder: 'The VM folder must be an absolute path, like /home/you/VMs; leave it empty for vmdesk’s own folder.',
        isoFolder:
          'The ISO library folder must be an absolute path, like /home/you/ISOs; leave it empty for vmdesk’s own folder.',
      },
    });
    expect(toSettingsChange({ ...f, vmFolder: ' /srv/vms/ ', isoFolder: '' }, saved)).toEqual({
      change: { vmFolder: '/srv/vms' },
    });
  });
});
