/**
 * What a name or an id must look like wherever it crosses the contract: a VM's name, a UUID (VM
 * ids, mediated devices), a sysfs directory name (mdev parents and types). One rule each, used by
 * the contract's schemas (VmNameSchema, UuidSchema, SysfsNameSchema in vm-types.ts), the
 * definition file schema, the mdev layer (and so the privileged helper's argument checks), the
 * CLI and the renderer, so a value one side accepts is never refused by another.
 * resources/mdev-helper/vmdesk-mdev-helper checks the same UUID and sysfs rules again in shell
 * (it trusts nobody); keep the two in step. No imports: the renderer takes these without valibot.
 */

// ---------------------------------------------------------------------------------------------
// VM names

/** In code points, so "Ünïcode" counts as 7. */
export const MAX_NAME_CHARS = 64;

/** Text-direction controls: they reorder what is shown (a name can display as another name). */
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
/**
 * Characters that show as nothing: format characters (zero-width space and joiners, word joiner,
 * BOM, soft hyphen...), Unicode's default-ignorable code points (variation selectors, the
 * combining grapheme joiner, Hangul fillers, tags) and the blank braille cell.
 */
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]/u;
/** U+FFFD (what a broken character shows as) and the noncharacters (never meant to be shown). */
const REPLACEMENT = /[\ufffd\ufdd0-\ufdef\ufffe\uffff]/u;
/** More than this many combining marks on one letter stack into an unreadable smear. */
const MAX_MARKS = 4;

/** "U+202E", for telling the user which character is meant. */
function codePoint(ch: string): string {
  return `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Why `name` is not a valid VM name, as a sentence for the user; undefined when it is valid.
 * Names are for people: 1–64 characters, any script, but only what shows as itself. Refused:
 * "/" (names become window titles and file-picker defaults), a leading "." (hidden file names),
 * control characters, text-direction controls (U+202E can make "evil" show as "live"),
 * invisible characters (zero-width space, joiners, BOM, variation selectors), unpaired UTF-16
 * surrogates and U+FFFD itself, noncharacters, private-use characters, a leading combining mark or
 * more than four on one letter, line breaks and spaces other than U+0020, and spaces at either
 * end. (Unassigned code points are not refused: the driver's and the renderer's Unicode versions
 * differ, and the rule must give the same answer in both.) The caller stores names in NFC
 * (`normalizeVmName`), so one name has one spelling. The same rule serves the contract, the
 * definition loader, the CLI and the renderer.
 */
export function vmNameProblem(name: string): string | undefined {
  const chars = [...name].length;
  if (chars === 0 || name.trim() === '') return 'A VM name cannot be empty.';
  if (chars > MAX_NAME_CHARS) return `A VM name can have at most ${MAX_NAME_CHARS} characters; this one has ${chars}.`;
  if (name.includes('/')) return 'A VM name cannot contain "/".';
  if (name.startsWith('.')) return 'A VM name cannot start with ".".';
  if (/\p{Cc}/u.test(name)) return 'A VM name cannot contain control characters.';
  if (/\p{Cs}/u.test(name))
    return 'A VM name cannot contain a broken character (an unpaired UTF-16 surrogate). Type the name again.';
  const bidi = BIDI_CONTROLS.exec(name);
  if (bidi)
    return `A VM name cannot contain text-direction controls (${codePoint(bidi[0])}): they make a name show as something else.`;
  const invisible = INVISIBLE.exec(name);
  if (invisible)
    return `A VM name cannot contain invisible characters (${codePoint(invisible[0])}, which shows as nothing).`;
  if (REPLACEMENT.test(name))
    return 'A VM name cannot contain U+FFFD (the sign of a broken character) or Unicode noncharacters.';
  if (/\p{Co}/u.test(name)) return 'A VM name cannot contain private-use characters (they have no agreed look).';
  if (/^\p{M}/u.test(name)) return 'A VM name cannot start with a combining mark (an accent with no letter).';
  if (new RegExp(`\\p{M}{${MAX_MARKS + 1}}`, 'u').test(name))
    return `A VM name can have at most ${MAX_MARKS} accents or other combining marks on one letter.`;
  const space = /[^\S ]|[\p{Zl}\p{Zp}]/u.exec(name);
  if (space) return `A VM name can contain ordinary spaces only, not ${codePoint(space[0])}.`;
  if (name !== name.trim()) return 'A VM name cannot start or end with spaces.';
  return undefined;
}

/** The stored form of a name: NFC, so "é" typed as one or two code points is one name. */
export function normalizeVmName(name: string): string {
  return name.normalize('NFC');
}

export function isVmName(name: unknown): name is string {
  return typeof name === 'string' && vmNameProblem(name) === undefined;
}

/** Two names are the same VM name when equal in NFC, so "é" typed two ways is one name. */
export function sameVmName(a: string, b: string): boolean {
  return a.normalize('NFC') === b.normalize('NFC');
}

// ---------------------------------------------------------------------------------------------
// UUIDs

/**
 * The textual UUID form, 8-4-4-4-12 hex digits in either case, any version: VM ids are
 * crypto.randomUUID() (v4), but mediated-device UUIDs come from users, mdevctl and vendor tools.
 * The kernel's mdev `create` and mdevctl take either case; vmdesk stores them lower-case.
 */
export const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isUuid(s: unknown): s is string {
  return typeof s === 'string' && UUID_RE.test(s);
}

// ---------------------------------------------------------------------------------------------
// sysfs names (mdev parents and types)

/**
 * A sysfs directory name, never a path: letters, digits and `_ . : -`, 1–128 of them, not
 * starting with "." (so never "." or ".."). Parents are PCI addresses ("0000:00:02.0") or a
 * sample driver's name ("mtty"); types are ids such as "i915-GVTg_V5_4" or "nvidia-63".
 */
export const SYSFS_NAME_RE = /^(?!\.)[A-Za-z0-9_.:-]{1,128}$/;

export function isSysfsName(s: unknown): s is string {
  return typeof s === 'string' && SYSFS_NAME_RE.test(s);
}

/** Snapshot names follow the VM name rule (they are shown the same way), with their own word. */
export function snapshotNameProblem(name: string): string | undefined {
  return vmNameProblem(name)?.replace(/^A VM name/, 'A snapshot name');
}
