/**
 * The app's own settings (`$XDG_CONFIG_HOME/vmdesk/settings.json`): what each key holds, its
 * schema (the file and `settings.set` are both validated with it), its default, and the
 * environment variable that wins over it. Per-VM settings are elsewhere (vm-types.ts).
 */
import * as v from 'valibot';

/** The file's format; a file with a higher version was written by a newer vmdesk. */
export const SETTINGS_VERSION = 1;

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The log cap's bounds: below 64 KiB a log holds too little to read; 1 GiB per file is plenty. */
export const MIN_LOG_CAP_BYTES = 64 * 1024;
export const MAX_LOG_CAP_BYTES = 2 ** 30;

/** A folder setting: an absolute path, or empty for vmdesk's own folder. */
const Folder = (what: string, example: string) =>
  v.pipe(
    v.string(`The ${what} must be a folder path, like ${example}.`),
    v.check(
      (s: string) => s === '' || (s.startsWith('/') && !s.includes('\0')),
      (issue) =>
        `The ${what} must be an absolute path, like ${example}, not "${String(issue.input)}" (empty: vmdesk's own folder).`,
    ),
  );

const Listen = v.pipe(
  v.string('The listen address must be text, like 127.0.0.1.'),
  v.check(
    (s: string) => s === 'localhost' || isIpAddress(s),
    (issue) => `The listen address must be an IP address, like 127.0.0.1 or ::1, not "${String(issue.input)}".`,
  ),
);

/** Each key's schema. Messages are whole sentences: they are shown as they are. */
export const SETTING_SCHEMAS = {
  /** What a new VM asks for when it is created without a choice (`auto`: KVM/HVF, else TCG). */
  defaultAccel: v.picklist(['auto', 'kvm', 'hvf', 'tcg'], 'The default accelerator is auto, kvm, hvf or tcg.'),
  /** Where new VMs keep their disks, UEFI variables and snapshots (`<folder>/<name>-<id8>`);
   * empty: `$XDG_DATA_HOME/vmdesk/vms/<id>`. VMs made before a change stay where they are. */
  vmFolder: Folder('VM folder', '/home/you/VMs'),
  /** Where `vmdesk web` stores uploaded ISOs and the ISO library looks; empty: `$XDG_DATA_HOME/vmdesk/isos`. */
  isoFolder: Folder('ISO library folder', '/home/you/ISOs'),
  /** The firmware the create wizard proposes when the disc boots that way (`auto`: vmdesk picks). */
  defaultFirmware: v.picklist(['auto', 'bios', 'uefi'], 'The default firmware is auto, bios or uefi.'),
  /** The least serious line the driver's logs keep. */
  logLevel: v.picklist(LOG_LEVELS, 'The log level is error, warn, info or debug.'),
  /** Bytes each log file (driver, QEMU, serial) may grow to before it is rotated to `<file>.1`. */
  logCapBytes: v.pipe(
    v.number('The log cap must be a number of bytes.'),
    v.check((n: number) => Number.isInteger(n), 'The log cap must be a whole number of bytes.'),
    v.check(
      (n: number) => n >= MIN_LOG_CAP_BYTES && n <= MAX_LOG_CAP_BYTES,
      'The log cap must be between 64 KiB (65536) and 1 GiB (1073741824) bytes.',
    ),
  ),
  /** The address `vmdesk web` listens on when started without --listen. */
  webListen: Listen,
  /** The port `vmdesk web` listens on without --port; 0: the last one used, when free, else any. */
  webPort: v.pipe(
    v.number('The web port must be a number.'),
    v.check(
      (n: number) => Number.isInteger(n) && n >= 0 && n <= 65535,
      'The web port must be a whole number from 1 to 65535, or 0 for any free port.',
    ),
  ),
  /** A new access token at every start of `vmdesk web` (open pages then need the new URL). */
  webNewTokenEachStart: v.boolean('New token at each start is true or false.'),
  /** The window asks before Force off (the guest loses what it has not saved, as on a power cut). */
  confirmForceOff: v.boolean('Confirm force off is true or false.'),
  /** The window asks before Reboot (a hard reset, like a reset button). */
  confirmReset: v.boolean('Confirm reboot is true or false.'),
} as const;

export type SettingKey = keyof typeof SETTING_SCHEMAS;
export type AppSettings = { [K in SettingKey]: v.InferOutput<(typeof SETTING_SCHEMAS)[K]> };
export const SETTING_KEYS = Object.keys(SETTING_SCHEMAS) as SettingKey[];

export const DEFAULT_SETTINGS: AppSettings = {
  defaultAccel: 'auto',
  defaultFirmware: 'auto',
  vmFolder: '',
  isoFolder: '',
  // Every call the driver takes is logged (as before settings existed); `info` leaves those out.
  logLevel: 'debug',
  logCapBytes: 8 * 1024 * 1024,
  webListen: '127.0.0.1',
  webPort: 0,
  webNewTokenEachStart: false,
  confirmForceOff: true,
  confirmReset: true,
};

/** The environment variables that win over the file (and over the dialog, which says so). */
export const SETTING_ENV: Partial<Record<SettingKey, string>> = {
  defaultAccel: 'VMDESK_ACCEL',
  logLevel: 'VMDESK_LOG_LEVEL',
  logCapBytes: 'VMDESK_LOG_CAP_BYTES',
};

/** Keys that a running driver or `vmdesk web` reads once at start: a change applies at the next. */
export const SETTINGS_APPLIED_AT_START: readonly SettingKey[] = [
  'logCapBytes',
  'webListen',
  'webPort',
  'webNewTokenEachStart',
];

export type SettingSource = 'file' | 'env' | 'default';

export interface SettingsReport {
  /** The settings file. */
  file: string;
  /** What is in force: the environment's value, else the file's, else the default. */
  values: AppSettings;
  sources: Record<SettingKey, SettingSource>;
  /** For each key set by the environment: the variable (`VMDESK_ACCEL`). */
  env: Partial<Record<SettingKey, string>>;
  /** What the file holds for each key it sets validly (also those the environment overrides). */
  fileValues: Partial<AppSettings>;
  /** Sentences for the user: a damaged file, a value not understood, a newer vmdesk's file. */
  notes: string[];
}

/** `settings.set`'s values: a key to change, or null to go back to its default. */
export const SettingsChangeSchema = v.strictObject(
  Object.fromEntries(SETTING_KEYS.map((k) => [k, v.optional(v.nullable(SETTING_SCHEMAS[k]))])) as {
    [K in SettingKey]: v.OptionalSchema<v.NullableSchema<(typeof SETTING_SCHEMAS)[K], undefined>, undefined>;
  },
);
export type SettingsChange = v.InferOutput<typeof SettingsChangeSchema>;

/** The problem with `value` for `key` as a sentence, or undefined when it is valid. */
export function settingProblem(key: SettingKey, value: unknown): string | undefined {
  const r = v.safeParse(SETTING_SCHEMAS[key], value);
  return r.success ? undefined : r.issues[0]!.message;
}

function isIpAddress(s: string): boolean {
  return v.safeParse(v.pipe(v.string(), v.ip()), s).success;
}
