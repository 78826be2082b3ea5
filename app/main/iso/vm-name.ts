/**
 * A friendly default VM name from what an ISO was recognised as: "Debian 12", "Windows 11",
 * "Ubuntu 24.04". Always a valid VM name by the one rule (vmNameProblem in common/names.ts):
 * clean() and cut() make the text fit it, and anything that still does not becomes "New VM".
 */
import { MAX_NAME_CHARS, vmNameProblem } from '../common/names.js';
import type { IsoInfo, OsMatch } from '../common/iso-types.js';
import { humanVolumeId } from './recognize.js';

const ARCH_TOKENS = /^(amd64|x86_64|x64|x86|arm64|aarch64|i386|i686|dvd|netinst|live|iso)$/i;

function clean(s: string): string {
  return (
    s
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f]/g, '')
      .replace(/\//g, '-')
      .replace(/\s+/g, ' ')
      .trim()
      .replace(/^\.+\s*/, '')
      .trim()
  );
}

/** Cut to at most 64 code points, at a word boundary when there is one. */
function cut(s: string): string {
  const chars = [...s];
  if (chars.length <= MAX_NAME_CHARS) return s;
  const head = chars.slice(0, MAX_NAME_CHARS).join('');
  const space = head.lastIndexOf(' ');
  return (space > MAX_NAME_CHARS / 2 ? head.slice(0, space) : head).trim();
}

export function suggestVmName(match: OsMatch, info: IsoInfo): string {
  let name: string;
  if (match.source !== 'generic' || match.confidence !== 'none') {
    name = match.name
      .replace(/^Microsoft\s+/, '')
      .replace(/\s+LTS\b/, '')
      .replace(/\s*\([^)]*\)\s*/g, ' ');
  } else {
    // A volume id: keep the words that name the OS, drop architecture and medium words.
    name = humanVolumeId(info)
      .split(' ')
      .filter((w) => !ARCH_TOKENS.test(w))
      .join(' ')
      .replace(/\s+LTS\b/, '');
  }
  const out = cut(clean(name));
  return vmNameProblem(out) === undefined ? out : 'New VM';
}
