/**
 * "Type text": text sent to the guest as key presses, for guests without an agent (installers,
 * text consoles). Pure: the plan (which keys, what can't be typed) and the paced sender.
 */
import { KEY, type Key } from './keys.js';

/** The longest text typed in one go: about a minute of typing at the pace below. */
export const MAX_TYPED_CHARS = 2000;

/**
 * Time per key event, in ms. QEMU spaces the key events of a VNC client 10 ms apart
 * (`-vnc key-delay-ms`, default 10) and queues what comes faster, and its input queue drops
 * events past 1024 (ui/input.c queue_limit): sending slightly slower than QEMU replays keeps
 * that queue short however long the text is.
 */
export const MS_PER_KEY_EVENT = 12;

/** One character as key presses: `key`, with Shift held around it when `shift`. */
export interface Stroke {
  char: string;
  key: Key;
  shift: boolean;
}

export interface TypingPlan {
  strokes: Stroke[];
  /** Characters that have no key on a US keyboard, each once, in order of appearance. */
  untypable: string[];
  /** How many characters of the text are skipped for that reason. */
  skipped: number;
}

// The US PC layout: for each key, its character and its character with Shift.
const US_KEYS: readonly (readonly [code: string, plain: string, shifted: string])[] = [
  ['Backquote', '`', '~'],
  ['Digit1', '1', '!'],
  ['Digit2', '2', '@'],
  ['Digit3', '3', '#'],
  ['Digit4', '4', '$'],
  ['Digit5', '5', '%'],
  ['Digit6', '6', '^'],
  ['Digit7', '7', '&'],
  ['Digit8', '8', '*'],
  ['Digit9', '9', '('],
  ['Digit0', '0', ')'],
  ['Minus', '-', '_'],
  ['Equal', '=', '+'],
  ['BracketLeft', '[', '{'],
  ['BracketRight', ']', '}'],
  ['Backslash', '\\', '|'],
  ['Semicolon', ';', ':'],
  ['Quote', "'", '"'],
  ['Comma', ',', '<'],
  ['Period', '.', '>'],
  ['Slash', '/', '?'],
  ['Space', ' ', ' '],
  ...Array.from('abcdefghijklmnopqrstuvwxyz', (c) => [`Key${c.toUpperCase()}`, c, c.toUpperCase()] as const),
];

const STROKES = new Map<string, Omit<Stroke, 'char'>>();
for (const [code, plain, shifted] of US_KEYS) {
  // Printable ASCII keysyms are the character codes (keysymdef.h, Latin-1).
  STROKES.set(plain, { key: { keysym: plain.charCodeAt(0), code }, shift: false });
  if (!STROKES.has(shifted)) STROKES.set(shifted, { key: { keysym: shifted.charCodeAt(0), code }, shift: true });
}
STROKES.set('\n', { key: KEY.enter, shift: false });
STROKES.set('\t', { key: KEY.tab, shift: false });

/** The stroke that types `char` on a US keyboard, or null if none does. */
export function strokeFor(char: string): Stroke | null {
  const s = STROKES.get(char);
  return s ? { char, ...s } : null;
}

/**
 * The strokes that type `text`. Line ends (CRLF, CR, LF) become Enter; characters no US key
 * makes (accented letters, €, emoji: QEMU maps keys, not characters) are skipped and listed.
 */
export function planTyping(text: string): TypingPlan {
  const strokes: Stroke[] = [];
  const untypable = new Set<string>();
  let skipped = 0;
  for (const char of text.replace(/\r\n?/g, '\n')) {
    const s = strokeFor(char);
    if (s) strokes.push(s);
    else {
      untypable.add(char);
      skipped++;
    }
  }
  return { strokes, untypable: [...untypable], skipped };
}

/** Number of characters as the user counts them (code points, so an emoji is one). */
export const charCount = (text: string): number => [...text.replace(/\r\n/g, '\n')].length;

/** Why `text` can't be typed, or null. */
export function typingRefusal(text: string): string | null {
  const n = charCount(text);
  if (n === 0) return 'There is nothing to type: paste or write the text first.';
  if (n > MAX_TYPED_CHARS)
    return (
      `The text has ${n.toLocaleString('en-US')} characters; Type text sends at most ` +
      `${MAX_TYPED_CHARS.toLocaleString('en-US')} (about a minute of typing). Type it in parts, or copy ` +
      'a long file into the guest another way (a shared folder, the network).'
    );
  return null;
}

/** The names a user reads for characters that can't be typed ("é", "U+00A0 (no-break space)"). */
export function describeChar(char: string): string {
  const cp = char.codePointAt(0)!;
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return `${hex} (a control character)`;
  if (/\s/u.test(char)) return `${hex} (a space other than the space bar's)`;
  return `“${char}”`;
}

/** Receives key events; returns false when it can't send (the screen disconnected). */
export type KeySink = (key: Key, down: boolean) => boolean;

export interface TypeOptions {
  signal?: AbortSignal;
  /** Called after each character with how many are typed so far. */
  onProgress?(typed: number): void;
  /** ms per key event (MS_PER_KEY_EVENT); tests pass 0. */
  msPerEvent?: number;
  /** Waits `ms`, resolving early when `signal` aborts. Tests inject their own. */
  wait?(ms: number, signal?: AbortSignal): Promise<void>;
}

export type TypeOutcome =
  { kind: 'done'; typed: number } | { kind: 'cancelled'; typed: number } | { kind: 'disconnected'; typed: number };

export const waitMs = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Sends `strokes` through `sink`, one character at a time and paced (see MS_PER_KEY_EVENT).
 * A character is atomic: cancelling (the signal) or a disconnect stops *between* characters, so
 * Shift is never left down in the guest. Resolves with how it ended and how many were typed.
 */
export async function typeStrokes(
  strokes: readonly Stroke[],
  sink: KeySink,
  opts: TypeOptions = {},
): Promise<TypeOutcome> {
  const { signal, onProgress, msPerEvent = MS_PER_KEY_EVENT, wait = waitMs } = opts;
  let typed = 0;
  for (const s of strokes) {
    if (signal?.aborted) return { kind: 'cancelled', typed };
    const events: [Key, boolean][] = s.shift
      ? [
          [KEY.shift, true],
          [s.key, true],
          [s.key, false],
          [KEY.shift, false],
        ]
      : [
          [s.key, true],
          [s.key, false],
        ];
    for (const [key, down] of events) {
      if (!sink(key, down)) {
        // Whatever went down before the link broke: the guest's keyboard state ended with it.
        return { kind: 'disconnected', typed };
      }
    }
    typed++;
    onProgress?.(typed);
    if (msPerEvent > 0) await wait(events.length * msPerEvent, signal);
  }
  return { kind: 'done', typed };
}
