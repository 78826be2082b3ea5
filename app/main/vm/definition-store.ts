/**
 * VM definitions on disk: one versioned JSON file per VM under `<config>/vms/<id>.json`.
 *
 * MUST NOT rewrite, rename or delete a file it cannot read: a corrupt or newer file is reported
 * as a `broken` entry with the reason and left exactly as it is. One bad file never hides the
 * others.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as v from 'valibot';
import {
  DEFINITION_VERSION,
  diskTarget,
  PLAIN_GUEST,
  VmDefinitionSchema,
  type VmDefinition,
} from '../common/vm-types.js';
import { VmdeskError } from '../common/errors.js';
import { isUuid } from '../common/names.js';
import { writeFileAtomic } from './atomic-file.js';
import { isOwnDataDir, shortId } from '../paths/vm-files.js';

export type DefinitionEntry = (
  | { ok: true; id: string; file: string; definition: VmDefinition }
  | { ok: false; id: string; file: string; reason: string }
) & {
  /** What the file was when read (see `stampOf`); a later different stamp means someone changed it. */
  stamp?: string;
};

/** Files larger than this are not VM definitions (a real one is < 4 KiB). Guards the parser. */
export const MAX_DEFINITION_BYTES = 1024 * 1024;

/**
 * Migrations from older format versions, keyed by the version they upgrade from. Each returns
 * the object in the next version's shape; the schema then checks it as usual (a migration never
 * makes a bad file good). The file is rewritten in the new shape only when the VM next changes.
 */
const MIGRATIONS: Record<number, (raw: Record<string, unknown>) => Record<string, unknown>> = {
  // 1 → 2: one CD-ROM (`cdrom`, null = no drive) became a list of drives; `boot` ('cdrom' or
  // 'disk') became an order; disks got their targets (vda, vdb, … in file order).
  1: (raw) => {
    const { cdrom, boot, disks, ...rest } = raw;
    return {
      ...rest,
      version: 2,
      disks: Array.isArray(disks)
        ? disks.map((d: unknown, i) =>
            typeof d === 'object' && d !== null ? { target: diskTarget(i), ...(d as object) } : d,
          )
        : disks,
      cdroms: cdrom === null ? [] : [cdrom],
      boot: boot === 'cdrom' ? ['cdrom', 'disk'] : boot === 'disk' ? ['disk'] : boot,
    };
  },
  // 2 → 3: Secure Boot, TPM, the guest's device models, clock and Hyper-V enlightenments; a VM
  // made before them had none of them and virtio devices.
  2: (raw) => ({ ...PLAIN_GUEST, ...raw, version: 3 }),
};

export class DefinitionStore {
  constructor(readonly dir: string) {}

  fileFor(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  /** Every `*.json` in the directory, each parsed independently. Sorted by file name. */
  loadAll(): DefinitionEntry[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .sort()
      .map((n) => this.load(path.join(this.dir, n)));
  }

  load(file: string): DefinitionEntry {
    const id = path.basename(file, '.json');
    const stamp = stampOf(file);
    const broken = (reason: string): DefinitionEntry => ({ ok: false, id, file, reason, stamp });
    let text: string;
    try {
      const st = fs.statSync(file);
      if (!st.isFile()) return broken('This is not a regular file.');
      if (st.size > MAX_DEFINITION_BYTES)
        return broken(`The file is ${st.size} bytes, too large to be a VM definition.`);
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      return broken(`The file cannot be read: ${(err as Error).message}`);
    }
    return { ...parseDefinitionText(text, id, file), stamp };
  }

  /** Atomic replace (temp + fsync + rename). The file is private to the user (0600). Returns
   * the new file's stamp. */
  save(def: VmDefinition): string | undefined {
    const checked = v.safeParse(VmDefinitionSchema, def);
    if (!checked.success) {
      throw new VmdeskError('internal', `Refusing to write an invalid definition: ${describeIssues(checked.issues)}`);
    }
    const file = this.fileFor(def.id);
    writeFileAtomic(file, JSON.stringify(checked.output, null, 2) + '\n');
    return stampOf(file);
  }

  remove(id: string): void {
    fs.rmSync(this.fileFor(id), { force: true });
  }
}

/**
 * Identity and version of a file as the OS sees it: inode, size and mtime in nanoseconds. An
 * editor's save (a new inode, or the same inode with a new mtime) changes it. Undefined when the
 * file is gone.
 */
export function stampOf(file: string): string | undefined {
  try {
    const st = fs.statSync(file, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch {
    return undefined;
  }
}

export function parseDefinitionText(text: string, id: string, file: string): DefinitionEntry {
  const broken = (reason: string): DefinitionEntry => ({ ok: false, id, file, reason });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const why = (err as Error).message.replace(/\s+/g, ' ').slice(0, 120);
    return broken(`The file is not valid JSON (${why}). Fix or remove ${file}.`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return broken(`The file does not hold a JSON object. Fix or remove ${file}.`);
  let obj = raw as Record<string, unknown>;
  const version = obj.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    return broken(`The file has no valid "version" field. Fix or remove ${file}.`);
  }
  if (version > DEFINITION_VERSION) {
    return broken(
      `Written by a newer vmdesk (format version ${version}; this one reads up to ${DEFINITION_VERSION}). Upgrade vmdesk to use this VM.`,
    );
  }
  for (let ver = version; ver < DEFINITION_VERSION; ver++) {
    const migrate = MIGRATIONS[ver];
    if (!migrate) return broken(`No migration from format version ${ver}.`);
    obj = migrate(obj);
  }
  const parsed = v.safeParse(VmDefinitionSchema, obj);
  if (!parsed.success) return broken(`${describeIssues(parsed.issues)}. Fix or remove ${file}.`);
  if (!isUuid(id) || parsed.output.id.toLowerCase() !== id.toLowerCase()) {
    return broken(
      `The file name does not match the id inside (${parsed.output.id}). Rename the file to ${parsed.output.id}.json.`,
    );
  }
  const dataDir = parsed.output.dataDir;
  if (dataDir !== undefined && !isOwnDataDir(dataDir, id))
    return broken(
      `Its "dataDir" ${dataDir} is not a folder vmdesk made for this VM (those end in -${shortId(id)}); deleting the VM would remove that whole folder. Put back the folder it had, or move the VM's files into a folder named like <name>-${shortId(id)}. Fix ${file}.`,
    );
  return { ok: true, id, file, definition: parsed.output };
}

/**
 * 'field "memoryMiB": expected number, got "1G"' style, first three issues, with the dotted field
 * path. Built from expected/received rather than valibot's message, which quotes the received
 * value in full (a 200 KB string would come back in the error).
 */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  const short = (s: string, max = 60) => (s.length > max ? `${s.slice(0, max - 3)}…` : s);
  return issues
    .slice(0, 3)
    .map((i) => {
      const field = v.getDotPath(i);
      // Our own sentences (checks) carry no input beyond a number or two: keep them whole.
      const what =
        i.expected !== null ? `expected ${short(i.expected)}, got ${short(i.received)}` : short(i.message, 400);
      return field ? `field "${field}": ${what}` : what;
    })
    .join('; ');
}
