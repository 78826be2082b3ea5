/**
 * `vmdesk export VM --libvirt` and `vmdesk import FILE.xml | --from URI DOMAIN`: a VM as libvirt
 * domain XML (on stdout, so it pipes into `virsh define /dev/stdin`; what libvirt cannot say goes
 * to stderr as notes), and a new VM from a domain, with every thing left out said in a sentence.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import type { CallResults } from '../common/contract.js';
import { formatMiB } from '../common/sizes.js';
import { parse, usageError } from './args.js';
import type { Call } from './clone-command.js';
import { firmwareText } from './format.js';

const EXPORT_USAGE = '`vmdesk export` writes a VM as libvirt domain XML: vmdesk export VM --libvirt [--json]';
const IMPORT_USAGE =
  '`vmdesk import` takes a domain XML file, or a libvirt host and domain: vmdesk import FILE.xml [--name N] [--copy-disks | --in-place] [--json], or vmdesk import --from URI DOMAIN [...]';
/** The contract's limit on domain XML (vm.importXml). */
const MAX_XML_BYTES = 512 * 1024;

export interface InteropIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Asks a question on the terminal and returns the answer; undefined when there is no terminal. */
export type Ask = (question: string) => Promise<string> | undefined;

const askOnTerminal: Ask = (question) => {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  return new Promise((resolve) =>
    rl.question(question, (answer) => {
      rl.close();
      resolve(answer);
    }),
  );
};

export async function runInterop(
  command: 'export' | 'import',
  args: string[],
  io: InteropIo,
  call: Call,
  ask: Ask = askOnTerminal,
): Promise<number> {
  return command === 'export' ? runExport(args, io, call) : runImport(args, io, call, ask);
}

async function runExport(args: string[], io: InteropIo, call: Call): Promise<number> {
  const a = parse(args, { libvirt: { type: 'boolean' } });
  if (a.positionals.length !== 1) throw usageError(EXPORT_USAGE);
  if (!a.values.libvirt)
    throw usageError(
      `vmdesk exports libvirt domain XML only, so say --libvirt: vmdesk export ${a.positionals[0]} --libvirt`,
    );
  const r = await call('vm.exportXml', { vm: a.positionals[0]! });
  if (a.values.json) {
    io.out.write(JSON.stringify(r, null, 2) + '\n');
    return 0;
  }
  io.out.write(r.xml.endsWith('\n') ? r.xml : r.xml + '\n');
  for (const n of r.notes) io.err.write(`vmdesk: note: ${n}\n`);
  return 0;
}

async function runImport(args: string[], io: InteropIo, call: Call, ask: Ask): Promise<number> {
  const a = parse(args, {
    from: { type: 'string' },
    name: { type: 'string' },
    'copy-disks': { type: 'boolean' },
    'in-place': { type: 'boolean' },
  });
  const json = !!a.values.json;
  if (a.values['copy-disks'] && a.values['in-place']) throw usageError('Give --copy-disks or --in-place, not both.');
  const from = a.values.from as string | undefined;
  if (a.positionals.length !== 1) throw usageError(IMPORT_USAGE);
  const arg = a.positionals[0]!;
  const source = from ? `the domain "${arg}" of ${from}` : arg;
  let xml: string | undefined;
  if (!from) xml = readDomainFile(arg);

  let disks: 'in-place' | 'copy' | undefined = a.values['copy-disks']
    ? 'copy'
    : a.values['in-place']
      ? 'in-place'
      : undefined;
  let defaulted = false;
  if (!disks) {
    const answer = json
      ? undefined
      : ask("Copy the disks into the new VM's folder (c), or use them where they are (p)? [p] ");
    if (answer === undefined) {
      disks = 'in-place';
      defaulted = true;
    } else disks = /^\s*c/i.test(await answer) ? 'copy' : 'in-place';
  }
  const r = await call('vm.importXml', {
    ...(from ? { from: { uri: from, domain: arg } } : { xml: xml! }),
    ...(a.values.name !== undefined ? { name: a.values.name as string } : {}),
    disks,
  });
  if (json) {
    io.out.write(JSON.stringify(r, null, 2) + '\n');
    return 0;
  }
  io.out.write(importSentence(source, r, { disks, defaulted }));
  return 0;
}

function readDomainFile(file: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw usageError(
      `${file} does not exist. Give a domain XML file (virsh dumpxml DOMAIN > FILE.xml), or --from URI DOMAIN.`,
    );
  }
  if (!st.isFile())
    throw usageError(`${file} is not a file. Give a domain XML file (virsh dumpxml DOMAIN > FILE.xml).`);
  if (st.size > MAX_XML_BYTES)
    throw usageError(`${file} has ${Math.ceil(st.size / 1024)} KiB; domain XML can be at most 512 KiB.`);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw usageError(
      `${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}). Check its permissions.`,
    );
  }
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** What the import made and what it left out, for a person reading a terminal. */
export function importSentence(
  source: string,
  r: CallResults['vm.importXml'],
  o: { disks: 'in-place' | 'copy'; defaulted: boolean },
): string {
  const vm = r.vm;
  const d = vm.definition;
  const lines: string[] = [];
  if (d) {
    const extras = [d.tpm ? 'TPM 2.0' : '', d.os ? d.os.name : ''].filter(Boolean);
    lines.push(
      `Imported ${source} as "${vm.name}": ${formatMiB(d.memoryMiB)}, ${d.cpus} CPU${d.cpus === 1 ? '' : 's'}, ${firmwareText(d)}${extras.length > 0 ? `, ${extras.join(', ')}` : ''}.`,
    );
    if (d.disks.length > 0) {
      lines.push(
        o.disks === 'copy'
          ? "Disks (copied into the VM's folder; they go when the VM is deleted):"
          : `Disks (used where they are; deleting the VM keeps them${o.defaulted ? '. Not asked: no terminal and no --copy-disks, so in place' : ''}):`,
      );
      for (const k of d.disks) lines.push(`  ${k.target}  ${k.path} (${k.format})`);
      if (o.disks === 'in-place')
        lines.push('Do not run the domain in libvirt while the VM runs in vmdesk: they would write the same disks.');
    } else lines.push('No disks (add one with vmdesk disk add VM --size 20G).');
    const discs = d.cdroms.filter((c): c is string => !!c);
    if (discs.length > 0) lines.push(`CD-ROM: ${discs.join(', ')}`);
  } else lines.push(`Imported ${source} as "${vm.name}".`);
  if (vm.notice) lines.push(vm.notice);
  if (r.dropped.length > 0) {
    lines.push(`Left out (${r.dropped.length}):`);
    for (const x of r.dropped) lines.push(`  - ${capital(x)}`);
  } else lines.push('Nothing was left out.');
  lines.push(`Start it with: vmdesk start "${vm.name}"`);
  return lines.join('\n') + '\n';
}
