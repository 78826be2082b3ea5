/**
 * `vmdesk iso inspect PATH [--json]`: what an installer ISO is, how it boots, which OS it holds
 * and the VM vmdesk would suggest for it. Needs no driver: it only reads the file.
 */
import { parseArgs } from 'node:util';
import { isUserError, serializeError, VmdeskError } from '../common/errors.js';
import { inspectIso } from '../iso/inspect.js';
import { recognizeOs } from '../iso/recognize.js';
import { loadOsinfoDb } from '../iso/osinfo-source.js';
import { suggestVmName } from '../iso/vm-name.js';
import type { IsoInfo, OsMatch, OsResources } from '../common/iso-types.js';
import { formatMiB } from '../vm/define-vm.js';
import { table } from './format.js';

export interface IsoCommandIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

const USAGE = 'Usage: vmdesk iso inspect PATH [--json]';

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
  const extras = [fw, ...(os.tpm ? ['TPM 2.0'] : []), ...(os.virtio ? ['virtio disk and network'] : [])];
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

export async function runIsoInspect(args: string[], io: IsoCommandIo): Promise<number> {
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
      throw new VmdeskError('invalid-argument', `${(err as Error).message}\n${USAGE}`);
    }
    json = !!parsed.values.json;
    if (parsed.values.help) {
      io.out.write(
        `${USAGE}\n  Shows what an installer ISO is, how it boots, which OS it holds and the VM vmdesk suggests for it.\n`,
      );
      return 0;
    }
    if (parsed.positionals.length !== 1)
      throw new VmdeskError('invalid-argument', `\`vmdesk iso inspect\` takes exactly one ISO file.\n${USAGE}`, {
        field: 'iso',
      });
    const [info, db] = await Promise.all([inspectIso(parsed.positionals[0]!), loadOsinfoDb()]);
    const os = recognizeOs(info, db);
    const suggestedName = suggestVmName(os, info);
    io.out.write(
      json ? JSON.stringify({ info, os, suggestedName }, null, 2) + '\n' : formatIsoReport(info, os, suggestedName),
    );
    return 0;
  } catch (err) {
    const e = serializeError(err);
    io.err.write(`vmdesk: ${e.message}\n`);
    if (json) io.out.write(JSON.stringify({ error: e }) + '\n');
    return isUserError(e.code) ? 1 : 2;
  }
}
