/** The demo's app settings: in memory, as the driver answers (no environment variable set). */
import {
  DEFAULT_SETTINGS as DEFAULTS,
  type AppSettings,
  type SettingKey,
  type SettingsChange,
  type SettingsReport,
} from '../../main/common/settings-types.js';

export function createFakeSettings() {
  const file: Partial<AppSettings> = {};
  const report = (): SettingsReport => {
    const keys = Object.keys(DEFAULTS) as SettingKey[];
    return {
      file: '/home/ada/.config/vmdesk/settings.json',
      values: { ...DEFAULTS, ...file },
      sources: Object.fromEntries(keys.map((k) => [k, k in file ? 'file' : 'default'])) as SettingsReport['sources'],
      env: {},
      fileValues: { ...file },
      notes: [],
    };
  };
  return {
    report,
    set(change: SettingsChange): SettingsReport {
      for (const [k, v] of Object.entries(change)) {
        if (v === null) delete file[k as SettingKey];
        else if (v !== undefined) (file as Record<string, unknown>)[k] = v;
      }
      return report();
    },
  };
}
