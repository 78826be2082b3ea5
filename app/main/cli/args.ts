/**
 * The command line's shared argument handling: strict option parsing, one VM positional, sizes
 * and counts, each refused with a sentence that names the option.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { VmdeskError } from '../common/errors.js';
import { parseSize } from '../common/sizes.js';

export function usageError(message: string): VmdeskError {
  return new VmdeskError('invalid-argument', `${message}\nRun \`vmdesk --help\` for usage.`);
}

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;
export interface Parsed {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

export function parse(args: string[], options: OptionSpec): Parsed {
  // `--memory -1G` would be read as a missing value followed by an unknown option; bind a value
  // that starts with "-" to its string option so the value's own check explains what is wrong.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const name = a.startsWith('--') ? a.slice(2) : undefined;
    const next = args[i + 1];
    if (name && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      joined.push(`${a}=${next}`);
      i++;
    } else joined.push(a);
  }
  try {
    return parseArgs({
      args: joined,
      options: { json: { type: 'boolean' }, ...options },
      allowPositionals: true,
      strict: true,
    }) as Parsed;
  } catch (err) {
    throw usageError((err as Error).message);
  }
}

export function oneVm(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw usageError(`\`vmdesk ${command}\` takes exactly one VM (a name or an id).`);
  return positionals[0]!;
}

export function memoryMiB(text: string | undefined): number {
  if (text === undefined) return 1024;
  const bytes = /^\s*-/.test(text) ? undefined : parseSize(text, 'M');
  if (bytes === 0) return 0; // a size, just too small: the definition check says the minimum
  if (bytes === undefined)
    throw new VmdeskError(
      'invalid-argument',
      `"${text}" is not a memory size. Write e.g. --memory 1G or --memory 512M.`,
      { field: 'memory' },
    );
  return Math.round(bytes / 2 ** 20);
}

export function intArg(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n))
    throw new VmdeskError('invalid-argument', `--${name} takes a whole number, not "${text}".`, { field: name });
  return n;
}

/** The guest-readiness settings of define, create and set (Secure Boot, TPM, devices, clock). */
export interface GuestFlags {
  secureBoot?: boolean;
  tpm?: boolean;
  diskBus?: 'virtio' | 'sata';
  nic?: 'virtio' | 'e1000e';
  clock?: 'utc' | 'localtime';
  hyperv?: boolean;
}

/** define and create: `--tpm`, `--no-tpm`, `--secure-boot`, `--no-secure-boot`, `--hyperv`,
 * `--no-hyperv` (the `--no-` forms override what create proposes for the OS). */
export const GUEST_FLAG_OPTIONS: OptionSpec = {
  tpm: { type: 'boolean' },
  'no-tpm': { type: 'boolean' },
  'secure-boot': { type: 'boolean' },
  'no-secure-boot': { type: 'boolean' },
  hyperv: { type: 'boolean' },
  'no-hyperv': { type: 'boolean' },
  'disk-bus': { type: 'string' },
  nic: { type: 'string' },
  clock: { type: 'string' },
};

/** set: `--tpm on|off`, `--secure-boot on|off`, `--hyperv on|off`, and the same value options. */
export const GUEST_SET_OPTIONS: OptionSpec = {
  tpm: { type: 'string' },
  'secure-boot': { type: 'string' },
  hyperv: { type: 'string' },
  'disk-bus': { type: 'string' },
  nic: { type: 'string' },
  clock: { type: 'string' },
};

/** The value of `--flag`, one of `allowed`; anything else is refused naming them ("a, b or c"). */
export function oneOf<T extends string>(flag: string, value: unknown, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) {
    const list = allowed.length > 1 ? `${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)}` : allowed.join('');
    throw new VmdeskError('invalid-argument', `--${flag} must be ${list}, not "${String(value)}".`, { field: flag });
  }
  return value as T;
}

/** The guest settings parsed options ask for; `set`: on|off values instead of flags. */
export function guestFlags(v: Parsed['values'], set: boolean): GuestFlags {
  const out: GuestFlags = {};
  const toggle = (flag: 'tpm' | 'secure-boot' | 'hyperv'): boolean | undefined => {
    if (set) {
      const on = oneOf(flag, v[flag], ['on', 'off'] as const);
      return on === undefined ? undefined : on === 'on';
    }
    if (v[flag] && v[`no-${flag}`]) throw usageError(`Give --${flag} or --no-${flag}, not both.`);
    return v[flag] ? true : v[`no-${flag}`] ? false : undefined;
  };
  const tpm = toggle('tpm');
  const secureBoot = toggle('secure-boot');
  const hyperv = toggle('hyperv');
  const diskBus = oneOf('disk-bus', v['disk-bus'], ['virtio', 'sata'] as const);
  const nic = oneOf('nic', v.nic, ['virtio', 'e1000e'] as const);
  const clock = oneOf('clock', v.clock, ['utc', 'localtime'] as const);
  if (tpm !== undefined) out.tpm = tpm;
  if (secureBoot !== undefined) out.secureBoot = secureBoot;
  if (hyperv !== undefined) out.hyperv = hyperv;
  if (diskBus) out.diskBus = diskBus;
  if (nic) out.nic = nic;
  if (clock) out.clock = clock;
  return out;
}

/**
 * `--share HOSTDIR[:TAG][:ro]`: the tag defaults to the folder's name (made a valid tag); `ro`
 * shares it read-only.
 */
export function parseShare(text: string): { path: string; tag: string; readOnly: boolean } {
  const parts = text.split(':');
  const readOnly = parts.length > 1 && parts.at(-1) === 'ro';
  if (readOnly) parts.pop();
  if (parts.length > 2 || !parts[0])
    throw new VmdeskError(
      'invalid-argument',
      `"${text}" is not a share. Write --share HOSTDIR, --share HOSTDIR:TAG or --share HOSTDIR:TAG:ro.`,
      { field: 'shares' },
    );
  const dir = path.resolve(parts[0]);
  const tag =
    parts[1] ??
    (path
      .basename(dir)
      .replace(/[^A-Za-z0-9_.-]/g, '_')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 36) ||
      'share');
  return { path: dir, tag, readOnly };
}

/** define and set: `--sound on|off`, `--clipboard on|off`, `--share ...` (repeatable). */
export const DESKTOP_OPTIONS: OptionSpec = {
  sound: { type: 'string' },
  clipboard: { type: 'string' },
  share: { type: 'string', multiple: true },
};

/** The desktop settings parsed options ask for; `--share none` (set) removes every share. */
export function desktopFlags(v: Parsed['values']): {
  sound?: boolean;
  clipboard?: boolean;
  shares?: { path: string; tag: string; readOnly: boolean }[];
} {
  const out: ReturnType<typeof desktopFlags> = {};
  const sound = oneOf('sound', v.sound, ['on', 'off'] as const);
  const clipboard = oneOf('clipboard', v.clipboard, ['on', 'off'] as const);
  if (sound) out.sound = sound === 'on';
  if (clipboard) out.clipboard = clipboard === 'on';
  if (Array.isArray(v.share))
    out.shares = v.share.length === 1 && v.share[0] === 'none' ? [] : v.share.map((s) => parseShare(String(s)));
  return out;
}
