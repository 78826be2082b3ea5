/**
 * `vmdesk iso inspect PATH [--json]`: what an installer ISO is, how it boots, which OS it holds
 * and the VM vmdesk would suggest for it. Needs no driver: it only reads the file.
 *
 * `vmdesk iso list [--json]` and `vmdesk iso rm PATH|NAME [--json]`: the ISO library, through the
 * driver (it knows which VMs use which image).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isUserError, serializeError, VmdeskError } from '../common/errors.js';
import { inspectIso } from '../iso/inspect.js';
import { recognizeOs } from '../iso/recognize.js';
import { loadOsinfoDb } from '../iso/osinfo-source.js';
import { suggestVmName } from '../iso/vm-name.js';
import type { IsoInfo, OsMatch, OsResources } from '../common/iso-types.js';
import type { IsoLibraryEntry } from '../common/contract.js';
import { formatMiB } from '../common/sizes.js';
import { table } from './format.js';

export interface IsoCommandIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

const USAGE = 'Usage: vmdesk iso inspect PATH [--json]';
const LIBRARY_USAGE = 'Usage: vmdesk iso list [--json] | vmdesk iso rm PATH|NAME [--json]';

function bytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${n} bytes`;
}

function date(iso: string | null): string {
  return iso ? iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC') : '-';
}

function boot(info: IsoInfo): string {
  const { bios, uefi } = info.bootable;
  if (bios && uefi) return 'BIOS + UEFI';
  if (uefi) return 'UEFI only';
  if (bios) return 'BIOS only';
  return 'not bootable';
}

function formatLabel(info: IsoInfo): string {
  if (info.format === 'udf') return 'UDF only';
  const parts = ['ISO 9660'];
  if (info.joliet) parts.push('Joliet');
  if (info.rockRidge) parts.push('Rock Ridge');
  if (info.udf) parts.push('UDF');
  return (
    parts.join(' + ') + (info.hybrid ? ` (hybrid: also boots from a USB stick, ${info.hybrid.toUpperCase()})` : '')
  );
}

function resources(r: OsResources): string {
  return `${formatMiB(r.memoryMiB)} RAM, ${r.diskGiB} GiB disk, ${r.cpus} CPU${r.cpus === 1 ? '' : 's'}`;
}

function recognisedAs(os: OsMatch): string {
  if (os.confidence === 'none') return 'not recognised (generic settings)';
  const from = os.source === 'table' ? "vmdesk's osinfo table" : os.source;
  return `${os.name}${os.arch ? ` ${os.arch}` : ''} (${from}${os.confidence === 'newer-release' ? ', a release newer than the data' : ''})`;
}

export function formatIsoReport(info: IsoInfo, os: OsMatch, name: string): string {
  const rows: [string, string][] = [
    ['File', `${info.path} (${bytes(info.sizeBytes)})`],
    ['Volume', info.volumeId || '(none)'],
  ];
  if (info.publisher) rows.push(['Publisher', info.publisher]);
  if (info.applicationId) rows.push(['Application', info.applicationId]);
  if (info.created) rows.push(['Created', date(info.created)]);
  rows.push(['Format', formatLabel(info)], ['Boot', boot(info)]);
  if (info.efiBootFiles.length > 0) {
    const files = [...new Set(info.efiBootFiles.map((f) => f.slice(f.lastIndexOf('/') + 1)))];
    rows.push(['EFI', `${info.efiArchs.join(', ') || 'no 64-bit architecture'} (${files.join(', ')})`]);
  }
  if (info.windows) {
    const w = info.windows;
    const build = w.build ? `, build ${w.build}` : '';
    const eds = w.editions.length ? `: ${w.editions.slice(0, 6).join(', ')}${w.editions.length > 6 ? ', …' : ''}` : '';
    rows.push(['Windows image', `${w.installImage} (in ${w.foundIn === 'udf' ? 'UDF' : 'ISO 9660'}${build})${eds}`]);
  }
  rows.push(['Recognised as', recognisedAs(os)]);
  const fw = os.firmware === 'either' ? 'BIOS or UEFI' : os.firmware.toUpperCase();
  const windows = os.family === 'windows';
  const extras = [
    fw,
    ...(windows ? ['Secure Boot'] : []),
    ...(os.tpm ? ['TPM 2.0'] : []),
    ...(os.virtio ? ['virtio disk and network'] : []),
    // Windows has no in-box virtio drivers: devices it knows, unless virtio-win.iso goes in too.
    ...(windows ? ['SATA disk and e1000e network (virtio with the virtio-win disc)'] : []),
  ];
  rows.push(['Suggested', `${resources(os.recommended)}, ${extras.join(', ')}`]);
  rows.push(['Minimum', resources(os.minimum)]);
  rows.push(['VM name', name]);
  let out = table(rows.map(([k, v]) => [`${k}:`, v]));
  // "Recognised as" and "Windows image" already say these.
  const remarks = [
    ...info.warnings,
    ...os.notes.filter((n) => !n.startsWith('Not recognised') && !n.startsWith('The install image is build')),
  ];
  if (remarks.length > 0) out += '\n\nNotes:\n' + remarks.map((r) => `  - ${r}`).join('\n');
  return out + '\n';
}

/**
 * One `vmdesk iso` subcommand: its options (--json, --help), then `body` with the positionals;
 * a failure is one line on stderr (and `{error}` with --json), exit 1 for the user's problems.
 */
async function runIsoSubcommand(
  args: string[],
  io: IsoCommandIo,
  usage: string,
  help: string,
  body: (positionals: string[], json: boolean) => Promise<void>,
): Promise<number> {
  let json = args.includes('--json');
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args,
        options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
        allowPositionals: true,
        strict: true,
      });
    } catch (err) {
      throw new VmdeskError('invalid-argument', `${(err as Error).message}\n${usage}`);
    }
    json = !!parsed.values.json;
    if (parsed.values.help) {
      io.out.write(`${usage}\n${help}\n`);
      return 0;
    }
    await body(parsed.positionals, json);
    return 0;
  } catch (err) {
    const e = serializeError(err);
    io.err.write(`vmdesk: ${e.message}\n`);
    if (json) io.out.write(JSON.stringify({ error: e }) + '\n');
    return isUserError(e.code) ? 1 : 2;
  }
}

export function runIsoInspect(args: string[], io: IsoCommandIo): Promise<number> {
  const help = '  Shows what an installer ISO is, how it boots, which OS it holds and the VM vmdesk suggests for it.';
  return runIsoSubcommand(args, io, USAGE, help, async (positionals, json) => {
    if (positionals.length !== 1)
      throw new VmdeskError('invalid-argument', `\`vmdesk iso inspect\` takes exactly one ISO file.\n${USAGE}`, {
        field: 'iso',
      });
    const [info, db] = await Promise.all([inspectIso(positionals[0]!), loadOsinfoDb()]);
    const os = recognizeOs(info, db);
    const suggestedName = suggestVmName(os, info);
    io.out.write(
      json ? JSON.stringify({ info, os, suggestedName }, null, 2) + '\n' : formatIsoReport(info, os, suggestedName),
    );
  });
}

/** The two library calls, through the driver link (main.ts opens it only when a command needs it). */
export interface IsoLibraryCalls {
  list(): Promise<IsoLibraryEntry[]>;
  remove(path: string): Promise<{ path: string }>;
}

export function formatIsoLibrary(entries: IsoLibraryEntry[]): string {
  if (entries.length === 0)
    return 'The ISO library is empty. Images uploaded through `vmdesk web` are kept there until you remove them.\n';
  const rows = [['NAME', 'SIZE', 'OS', 'USED BY']];
  for (const e of entries)
    rows.push([e.name, bytes(e.sizeBytes), e.os ?? '-', e.usedBy.map((u) => u.name).join(', ') || '-']);
  const unused = entries.filter((e) => e.usedBy.length === 0).length;
  return (
    `${table(rows)}\n\nIn ${path.dirname(entries[0]!.path)}.` +
    (unused > 0 ? ' Remove an image no VM uses with: vmdesk iso rm NAME' : '') +
    '\n'
  );
}

/** `vmdesk iso list` and `vmdesk iso rm`: `sub` is which. */
export function runIsoLibrary(
  sub: 'list' | 'rm',
  args: string[],
  io: IsoCommandIo,
  calls: IsoLibraryCalls,
): Promise<number> {
  const help =
    '  list: the installer images vmdesk keeps, their OS and which VMs use them.\n  rm: removes one no VM uses (by its name in the list or its path).';
  return runIsoSubcommand(args, io, LIBRARY_USAGE, help, async (positionals, json) => {
    if (sub === 'list') {
      if (positionals.length > 0)
        throw new VmdeskError('invalid-argument', `Unexpected argument "${positionals[0]}".\n${LIBRARY_USAGE}`);
      const entries = await calls.list();
      io.out.write(json ? JSON.stringify(entries, null, 2) + '\n' : formatIsoLibrary(entries));
      return;
    }
    if (positionals.length !== 1)
      throw new VmdeskError(
        'invalid-argument',
        `\`vmdesk iso rm\` takes exactly one image: its name in \`vmdesk iso list\` or its path.\n${LIBRARY_USAGE}`,
        { field: 'path' },
      );
    const arg = positionals[0]!;
    // A name in the list first (the usual way), else a path; the driver checks it is in the library.
    const entries = await calls.list();
    const entry = entries.find((e) => e.name === arg) ?? entries.find((e) => e.path === path.resolve(arg));
    if (!entry && !arg.includes('/'))
      throw new VmdeskError(
        'not-found',
        `There is no image "${arg}" in the ISO library. See \`vmdesk iso list\` for the names.`,
        { field: 'path' },
      );
    const removed = await calls.remove(entry?.path ?? path.resolve(arg));
    io.out.write(
      json ? JSON.stringify(removed) + '\n' : `Removed ${path.basename(removed.path)} from the ISO library.\n`,
    );
  });
}
