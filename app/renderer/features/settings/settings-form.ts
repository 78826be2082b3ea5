/**
 * The Preferences dialog's form: the app settings as the fields show them (text for numbers),
 * every field checked at once, and the change to send (only what differs from what is saved).
 * The driver checks again with the contract's schemas; these checks only answer sooner.
 */
import type { AppSettings, SettingKey, SettingsReport } from '../../../main/common/settings-types.js';

export interface SettingsForm {
  defaultAccel: AppSettings['defaultAccel'];
  /** As typed; empty: vmdesk's own folder. */
  vmFolder: string;
  isoFolder: string;
  defaultFirmware: AppSettings['defaultFirmware'];
  logLevel: AppSettings['logLevel'];
  /** MiB, as typed. */
  logCapMiB: string;
  webListen: string;
  /** As typed; empty or 0: any free port (the last one used when free). */
  webPort: string;
  webNewTokenEachStart: boolean;
  confirmForceOff: boolean;
  confirmReset: boolean;
}

export type SettingsErrors = Partial<Record<keyof SettingsForm, string>>;

/** Fields a running vmdesk reads once at start (common/settings-types.ts SETTINGS_APPLIED_AT_START). */
export const APPLIED_AT_START: readonly SettingKey[] = ['logCapBytes', 'webListen', 'webPort', 'webNewTokenEachStart'];

const MIB = 2 ** 20;

export function formFromReport(r: SettingsReport): SettingsForm {
  const v = r.values;
  return {
    defaultAccel: v.defaultAccel,
    vmFolder: v.vmFolder,
    isoFolder: v.isoFolder,
    defaultFirmware: v.defaultFirmware,
    logLevel: v.logLevel,
    logCapMiB: String(Math.round((v.logCapBytes / MIB) * 1000) / 1000),
    webListen: v.webListen,
    webPort: v.webPort === 0 ? '' : String(v.webPort),
    webNewTokenEachStart: v.webNewTokenEachStart,
    confirmForceOff: v.confirmForceOff,
    confirmReset: v.confirmReset,
  };
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-f:.]+$/i;

function isIpAddress(s: string): boolean {
  return IPV4.test(s) || (s.includes(':') && IPV6.test(s) && s.split(':').length <= 8) || s === 'localhost';
}

/** The form's field for each setting. */
export const FIELD_OF: Record<SettingKey, keyof SettingsForm> = {
  defaultAccel: 'defaultAccel',
  vmFolder: 'vmFolder',
  isoFolder: 'isoFolder',
  defaultFirmware: 'defaultFirmware',
  logLevel: 'logLevel',
  logCapBytes: 'logCapMiB',
  webListen: 'webListen',
  webPort: 'webPort',
  webNewTokenEachStart: 'webNewTokenEachStart',
  confirmForceOff: 'confirmForceOff',
  confirmReset: 'confirmReset',
};

/**
 * Every field checked at once: the errors of all fields, or the values that differ from `saved`
 * (fields set by the environment are never sent: they are read-only in the dialog).
 */
export function toSettingsChange(
  f: SettingsForm,
  saved: SettingsReport,
): { errors: SettingsErrors } | { change: Partial<AppSettings> } {
  const errors: SettingsErrors = {};
  const capText = f.logCapMiB.trim();
  const capMiB = Number(capText);
  let logCapBytes = saved.values.logCapBytes;
  if (capText === '' || !Number.isFinite(capMiB)) errors.logCapMiB = 'The log cap must be a number of MiB, like 8.';
  else {
    logCapBytes = Math.round(capMiB * MIB);
    if (logCapBytes < 64 * 1024 || logCapBytes > 1024 * MIB)
      errors.logCapMiB = 'The log cap must be between 0.0625 MiB (64 KiB) and 1024 MiB.';
  }
  const listen = f.webListen.trim();
  if (!isIpAddress(listen))
    errors.webListen = `The listen address must be an IP address, like 127.0.0.1 or ::1${listen ? `, not "${listen}"` : ''}.`;
  const portText = f.webPort.trim();
  const webPort = portText === '' ? 0 : Number(portText);
  if (!/^\d*$/.test(portText) || !Number.isInteger(webPort) || webPort < 0 || webPort > 65535)
    errors.webPort = 'The web port must be a whole number from 1 to 65535; leave it empty for any free port.';
  const folder = (text: string, what: string, example: string): string => {
    const t = text.trim();
    if (t !== '' && !t.startsWith('/'))
      errors[what === 'VM folder' ? 'vmFolder' : 'isoFolder'] =
        `The ${what} must be an absolute path, like ${example}; leave it empty for vmdesk’s own folder.`;
    return t.length > 1 ? t.replace(/\/+$/, '') : t;
  };
  const vmFolder = folder(f.vmFolder, 'VM folder', '/home/you/VMs');
  const isoFolder = folder(f.isoFolder, 'ISO library folder', '/home/you/ISOs');
  if (Object.keys(errors).length > 0) return { errors };
  const next: AppSettings = {
    defaultAccel: f.defaultAccel,
    vmFolder,
    isoFolder,
    defaultFirmware: f.defaultFirmware,
    logLevel: f.logLevel,
    logCapBytes,
    webListen: listen,
    webPort,
    webNewTokenEachStart: f.webNewTokenEachStart,
    confirmForceOff: f.confirmForceOff,
    confirmReset: f.confirmReset,
  };
  const change: Partial<AppSettings> = {};
  for (const key of Object.keys(next) as SettingKey[]) {
    if (saved.sources[key] === 'env' || next[key] === saved.values[key]) continue;
    (change as Record<string, unknown>)[key] = next[key];
  }
  return { change };
}

/** The field a driver error names (`details.field`, or the key in its message), for placing it. */
export function fieldOfError(message: string, field: unknown): keyof SettingsForm | undefined {
  const keys = Object.keys(FIELD_OF) as SettingKey[];
  const key =
    typeof field === 'string'
      ? keys.find((k) => field === k || field.endsWith(`.${k}`))
      : keys.find((k) => message.includes(k));
  return key ? FIELD_OF[key] : undefined;
}
