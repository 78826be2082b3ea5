/**
 * A serial console's log as a page can show it: what a terminal would have printed, not the bytes
 * that drove it. Escape sequences (colours, cursor moves, bracketed paste, window titles, charset
 * selection) go; CR LF is a newline; a lone CR starts its line again (progress bars, shell
 * prompts redrawn); a backspace takes the character before it; other control characters go.
 *
 * The log arrives in chunks that may end inside a sequence (or between CR and LF): what cannot be
 * decided yet is kept in `pending` and read again with the next chunk.
 */

export interface TerminalText {
  /** What the log shows so far. */
  text: string;
  /** The end of the last chunk that may be the start of a sequence. */
  pending: string;
}

export const EMPTY_TERMINAL_TEXT: TerminalText = { text: '', pending: '' };

const ESC = '\x1b';
const BEL = '\x07';

/**
 * The length of the escape sequence at `s[i]` (an ESC), 0 if `s` ends before it does.
 * CSI: ESC [ params… final (0x40–0x7e). OSC, DCS, SOS, PM, APC: until BEL or ESC \.
 * ESC + intermediates (0x20–0x2f, e.g. the charset in ESC ( B) + one final character.
 */
function sequenceLength(s: string, i: number): number {
  const kind = s[i + 1];
  if (kind === undefined) return 0;
  if (kind === '[') {
    for (let j = i + 2; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (c >= 0x40 && c <= 0x7e) return j - i + 1;
    }
    return 0;
  }
  if (kind === ']' || kind === 'P' || kind === 'X' || kind === '^' || kind === '_') {
    for (let j = i + 2; j < s.length; j++) {
      if (s[j] === BEL) return j - i + 1;
      if (s[j] === ESC) return s[j + 1] === undefined ? 0 : j - i + 2;
    }
    return 0;
  }
  let j = i + 1;
  while (j < s.length && s.charCodeAt(j) >= 0x20 && s.charCodeAt(j) <= 0x2f) j++;
  return j < s.length ? j - i + 1 : 0;
}

/** The log after one more chunk. */
export function appendTerminalText(prev: TerminalText, chunk: string): TerminalText {
  const s = prev.pending + chunk;
  let text = prev.text;
  let i = 0;
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === ESC) {
      const n = sequenceLength(s, i);
      if (n === 0) return { text, pending: s.slice(i) };
      i += n;
      continue;
    }
    if (ch === '\r') {
      const next = s[i + 1];
      if (next === undefined) return { text, pending: '\r' };
      if (next === '\n') {
        text += '\n';
        i += 2;
      } else {
        // Back to the start of the line: what follows overwrites it.
        text = text.slice(0, text.lastIndexOf('\n') + 1);
        i += 1;
      }
      continue;
    }
    if (ch === '\b') {
      if (text !== '' && !text.endsWith('\n')) text = text.slice(0, -1);
      i += 1;
      continue;
    }
    const c = ch.charCodeAt(0);
    if ((c < 0x20 && ch !== '\n' && ch !== '\t') || c === 0x7f) {
      i += 1;
      continue;
    }
    // A run of printable text at once.
    let j = i + 1;
    while (j < s.length) {
      const d = s.charCodeAt(j);
      if ((d < 0x20 && s[j] !== '\n' && s[j] !== '\t') || d === 0x7f) break;
      j++;
    }
    text += s.slice(i, j);
    i = j;
  }
  return { text, pending: '' };
}
