/**
 * `vmdesk settings [get] [KEY] [--json]` and `vmdesk settings set KEY VALUE|default [--json]`: the
 * app's settings (settings.json), through the driver like every other change, so a running window
 * or `vmdesk web` applies a new log level at once.
 */
import path from 'node:path';
import { VmdeskError } from '../common/errors.js';
import {
  DEFAULT_SETTINGS,
  SETTING_KEYS,
  SETTINGS_APPLIED_AT_START,
  settingProblem,
  type SettingKey,
  type SettingsReport,
} from '../common/settings-types.js';
import { parseSize } from '../common/sizes.js';
import { parse, usageError } from './args.js';
import type { Call } from './clone-command.js';
import { table } from './format.js';

const USAGE = `Use \`vmdesk settings [get] [KEY] [--json]\` or \`vmdesk settings set KEY VALUE\` (VALUE \`default\` goes back to the default). Keys: ${SETTING_KEYS.join(', ')}.`;

function settingKey(text: string | undefined): SettingKey {
  if (text === undefined) throw usageError(USAGE);
  const key = SETTING_KEYS.find((k) => k.toLowerCase() === text.toLowerCase());
  if (!key)
    throw new VmdeskError(
      'invalid-argument',
      `There is no setting "${text}". The settings are ${SETTING_KEYS.join(', ')}.`,
      {
        field: 'key',
      },
    );
  return key;
}

/** VALUE as the key's type: numbers (log cap with K/M/G), true/false/on/off, text. */
export function settingValue(key: SettingKey, text: string): unknown {
  const t = text.trim();
  if (key === 'logCapBytes') return /^\d+$/.test(t) ? Number(t) : (parseSize(t, 'M') ?? t);
  if (key === 'webPort') return /^\d+$/.test(t) ? Number(t) : t;
  if (typeof DEFAULT_SETTINGS[key] === 'boolean') {
    if (/^(true|on|yes|1)$/i.test(t)) return true;
    if (/^(false|off|no|0)$/i.test(t)) return false;
    return t;
  }
  // A folder as the shell gave it, relative to where the command runs (empty: vmdesk's own).
  if (key === 'vmFolder' || key === 'isoFolder') return t === '' ? '' : path.resolve(t);
  return key === 'webListen' ? t : t.toLowerCase();
}

const shown = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

function whence(r: SettingsReport, key: SettingKey): string {
  const source = r.sources[key];
  if (source === 'env') {
    const file = r.fileValues[key];
    return `${r.env[key]}${file !== undefined ? ` (the file says ${shown(file)})` : ''}`;
  }
  return source === 'file' ? 'settings file' : 'default';
}

export function formatSettings(r: SettingsReport): string {
  const rows = [['SETTING', 'VALUE', 'FROM'], ...SETTING_KEYS.map((k) => [k, shown(r.values[k]), whence(r, k)])];
  const notes = r.notes.map((n) => `\n${n}`).join('');
  return `${table(rows)}\n\nFile: ${r.file}${notes}\n`;
}

export async function runSettings(
  args: string[],
  io: { out: NodeJS.WritableStream; err: NodeJS.WritableStream },
  call: Call,
): Promise<number> {
  const a = parse(args, {});
  const json = !!a.values.json;
  const [sub, ...rest] = a.positionals;
  if (sub === undefined || sub === 'get' || SETTING_KEYS.some((k) => k.toLowerCase() === sub.toLowerCase())) {
    const keys = sub === 'get' ? rest : sub === undefined ? [] : [sub];
    if (keys.length > 1) throw usageError(USAGE);
    const r = await call('settings.get', {});
    for (const n of r.notes) if (!json && keys.length === 1) io.err.write(`${n}\n`);
    if (keys.length === 0) {
      io.out.write(json ? JSON.stringify(r, null, 2) + '\n' : formatSettings(r));
      return 0;
    }
    const key = settingKey(keys[0]);
    io.out.write(
      json
        ? JSON.stringify({ key, value: r.values[key], source: r.sources[key], env: r.env[key] }, null, 2) + '\n'
        : `${shown(r.values[key])}\n`,
    );
    return 0;
  }
  if (sub !== 'set' || rest.length !== 2) throw usageError(USAGE);
  const key = settingKey(rest[0]);
  const text = rest[1]!;
  const value = text.trim().toLowerCase() === 'default' ? null : settingValue(key, text);
  const problem = value === null ? undefined : settingProblem(key, value);
  if (problem) throw new VmdeskError('invalid-argument', `${problem} (vmdesk settings set ${key} ...)`, { field: key });
  const r = await call('settings.set', { values: { [key]: value } });
  if (json) {
    io.out.write(JSON.stringify(r, null, 2) + '\n');
    return 0;
  }
  io.out.write(`${key} = ${shown(r.values[key])}${value === null ? ' (the default)' : ''}\n`);
  if (r.sources[key] === 'env')
    io.err.write(
      `${r.env[key]} is set in the environment of the vmdesk that manages your VMs and wins over the file: ${key} stays ${shown(r.values[key])} while it is set (unset it and restart that vmdesk).\n`,
    );
  else if (SETTINGS_APPLIED_AT_START.includes(key))
    io.err.write(`This applies the next time ${key.startsWith('web') ? '`vmdesk web`' : 'vmdesk'} starts.\n`);
  for (const n of r.notes) io.err.write(`${n}\n`);
  return 0;
}
