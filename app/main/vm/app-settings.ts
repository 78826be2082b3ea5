/**
 * The app's settings file, `$XDG_CONFIG_HOME/vmdesk/settings.json`:
 * `{"version": 1, "logLevel": "info", ...}`, only the keys the user set.
 *
 * - What is in force: the environment (VMDESK_ACCEL, VMDESK_LOG_LEVEL, VMDESK_LOG_CAP_BYTES), else
 *   the file, else the default; each key says which (`sources`).
 * - A file that cannot be read or parsed MUST NOT stop vmdesk: the defaults apply and a note says
 *   why. It is never rewritten silently: the next change moves it aside (`settings.json.damaged`)
 *   and says so.
 * - Keys this vmdesk does not know (a newer one's) are kept on every write, as is a higher version.
 * - Writes are atomic (temp + fsync + rename), 0600.
 *
 * Lives with the VMs' definitions store (vm/) because the driver, `vmdesk web` and the CLI all
 * read it and the atomic write is here; it depends on nothing else of vm/.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  DEFAULT_SETTINGS,
  SETTING_ENV,
  SETTING_KEYS,
  SETTINGS_VERSION,
  settingProblem,
  type AppSettings,
  type SettingKey,
  type SettingsChange,
  type SettingSource,
  type SettingsReport,
} from '../common/settings-types.js';
import { resolveAppPaths, currentPathEnv, type AppPaths } from '../paths/app-paths.js';
import { writeFileAtomic } from './atomic-file.js';

export function settingsFile(paths: Pick<AppPaths, 'config'>): string {
  return path.join(paths.config, 'settings.json');
}

interface FileContent {
  /** The file's whole object (unknown keys included); undefined when missing or damaged. */
  raw: Record<string, unknown> | undefined;
  /** Why the file cannot be used at all; undefined when it can (or is missing). */
  damaged: string | undefined;
  known: Partial<AppSettings>;
  notes: string[];
}

function readFileContent(file: string): FileContent {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      return { raw: undefined, damaged: undefined, known: {}, notes: [] };
    return damagedFile(file, `cannot be read (${(e as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return damagedFile(file, `is not valid JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return damagedFile(file, 'does not hold a JSON object');
  const raw = parsed as Record<string, unknown>;
  const version = raw.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1)
    return damagedFile(file, `has no valid "version" (${JSON.stringify(version) ?? 'missing'})`);
  const notes: string[] = [];
  if (version > SETTINGS_VERSION)
    notes.push(
      `${file} was written by a newer vmdesk (format ${version}; this one knows ${SETTINGS_VERSION}): the settings this vmdesk knows are used, and the others are kept as they are.`,
    );
  const known: Partial<AppSettings> = {};
  for (const key of SETTING_KEYS) {
    if (!(key in raw)) continue;
    const problem = settingProblem(key, raw[key]);
    if (problem)
      notes.push(
        `${key} in ${file} is ${JSON.stringify(raw[key])}: ${problem} The default (${JSON.stringify(DEFAULT_SETTINGS[key])}) is used until you set it again.`,
      );
    else (known as Record<string, unknown>)[key] = raw[key];
  }
  return { raw, damaged: undefined, known, notes };
}

function damagedFile(file: string, why: string): FileContent {
  return {
    raw: undefined,
    damaged: why,
    known: {},
    notes: [
      `The settings file ${file} ${why}, so vmdesk uses the default settings. The next change you save moves it aside to ${path.basename(file)}.damaged and writes a new one; fix or delete it to keep your old settings.`,
    ],
  };
}

/** A sentence when a folder just set cannot be used as it is (it is made at first use when missing). */
function folderNote(key: 'vmFolder' | 'isoFolder', folder: string): string[] {
  const what = key === 'vmFolder' ? 'VM folder' : 'ISO library folder';
  try {
    const st = fs.statSync(folder);
    if (!st.isDirectory()) return [`The ${what} ${folder} is a file, not a folder: choose another.`];
    fs.accessSync(folder, fs.constants.W_OK);
    return [];
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      return [`The ${what} ${folder} does not exist yet: vmdesk makes it when it first puts something there.`];
    return [
      `The ${what} ${folder} cannot be written (${code ?? (e as Error).message}): vmdesk cannot put anything there until it can.`,
    ];
  }
}

/** The environment's values (valid ones only) and a note for each variable it does not understand. */
export function settingsFromEnv(env: NodeJS.ProcessEnv): { values: Partial<AppSettings>; notes: string[] } {
  const values: Partial<AppSettings> = {};
  const notes: string[] = [];
  for (const key of SETTING_KEYS) {
    const name = SETTING_ENV[key];
    const text = name ? env[name]?.trim() : undefined;
    if (!name || !text) continue;
    const value: unknown =
      key === 'logCapBytes'
        ? /^\d+$/.test(text)
          ? Number(text)
          : text
        : key === 'defaultAccel'
          ? text.toLowerCase()
          : text;
    const problem = settingProblem(key, value);
    if (problem)
      notes.push(`${name}=${text} is not understood (${problem}) Fix or unset it; until then it is ignored here.`);
    else (values as Record<string, unknown>)[key] = value;
  }
  return { values, notes };
}

/** What is in force for this file and environment. Reads the file; never throws for its content. */
export function readSettings(file: string, env: NodeJS.ProcessEnv = process.env): SettingsReport {
  const content = readFileContent(file);
  const fromEnv = settingsFromEnv(env);
  const values = { ...DEFAULT_SETTINGS };
  const sources = {} as Record<SettingKey, SettingSource>;
  const envNames: Partial<Record<SettingKey, string>> = {};
  for (const key of SETTING_KEYS) {
    const set = <K extends SettingKey>(k: K, value: AppSettings[K]) => (values[k] = value);
    if (key in fromEnv.values) {
      set(key, fromEnv.values[key]!);
      sources[key] = 'env';
      envNames[key] = SETTING_ENV[key]!;
    } else if (key in content.known) {
      set(key, content.known[key]!);
      sources[key] = 'file';
    } else sources[key] = 'default';
  }
  return {
    file,
    values,
    sources,
    env: envNames,
    fileValues: content.known,
    notes: [...content.notes, ...fromEnv.notes],
  };
}

/** The settings for the directories that `env`'s XDG variables name (what a process's driver uses). */
export function readSettingsForEnv(env: NodeJS.ProcessEnv): SettingsReport {
  return readSettings(settingsFile(resolveAppPaths({ ...currentPathEnv(), env })), env);
}

/**
 * Applies `change` to the file (null: back to the default, the key leaves the file) and returns
 * what is in force after. Values MUST have been validated (the contract's schema does it). A
 * damaged file is moved aside first, never overwritten; unknown keys and a newer version stay.
 */
export function writeSettings(
  file: string,
  change: SettingsChange,
  env: NodeJS.ProcessEnv = process.env,
): SettingsReport {
  const content = readFileContent(file);
  const notes: string[] = [];
  if (content.damaged) {
    const aside = `${file}.damaged`;
    fs.renameSync(file, aside);
    notes.push(
      `The damaged settings file was moved to ${aside}; the new ${path.basename(file)} holds only what you set now.`,
    );
  }
  const next: Record<string, unknown> = { ...(content.raw ?? {}) };
  next.version = Math.max(SETTINGS_VERSION, typeof next.version === 'number' ? next.version : 0);
  for (const key of SETTING_KEYS) {
    if (!(key in change)) continue;
    const value = change[key];
    if (value === undefined) continue;
    if (value === null) delete next[key];
    // A folder as one way of writing it (`/a/../b/ ` is `/a/b`... is `/b`): what error messages,
    // the checks and the definitions then name.
    else if ((key === 'vmFolder' || key === 'isoFolder') && typeof value === 'string' && value.trim() !== '')
      next[key] = path.normalize(value.trim()).replace(/(.)\/+$/, '$1');
    else next[key] = value;
  }
  writeFileAtomic(file, JSON.stringify(next, null, 2) + '\n', 0o600);
  const after = readSettings(file, env);
  const folderNotes = (['vmFolder', 'isoFolder'] as const).flatMap((key) =>
    change[key] ? folderNote(key, after.values[key]) : [],
  );
  return { ...after, notes: [...notes, ...after.notes, ...folderNotes] };
}
