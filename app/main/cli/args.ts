/**
 * The command line's shared argument handling: strict option parsing, one VM positional, sizes
 * and counts, each refused with a sentence that names the option.
 */
import { parseArgs } from 'node:util';
import { VmdeskError } from '../common/errors.js';
import { parseSize } from '../vm/define-vm.js';

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
