import { describe, expect, it } from 'vitest';
import { comboEvents, CTRL_ALT_FN, isReleaseShortcut, KEY, SPECIAL_KEYS, type Key } from './keys.js';
import {
  describeChar,
  MAX_TYPED_CHARS,
  planTyping,
  strokeFor,
  typeStrokes,
  typingRefusal,
  type KeySink,
} from './type-text.js';

/** A sink that records "+code" / "-code" and can refuse from the Nth event on (a disconnect). */
function recorder(failFrom = Infinity) {
  const events: string[] = [];
  const sink: KeySink = (key: Key, down: boolean) => {
    if (events.length >= failFrom) return false;
    events.push(`${down ? '+' : '-'}${key.code}`);
    return true;
  };
  return { events, sink };
}

describe('which keys type a character (US layout)', () => {
  it('types lower-case letters, digits and unshifted punctuation without Shift, with the keysym of the character', () => {
    expect(strokeFor('a')).toEqual({ char: 'a', key: { keysym: 0x61, code: 'KeyA' }, shift: false });
    expect(strokeFor('7')).toEqual({ char: '7', key: { keysym: 0x37, code: 'Digit7' }, shift: false });
    expect(strokeFor('/')).toMatchObject({ key: { keysym: 0x2f, code: 'Slash' }, shift: false });
    expect(strokeFor(' ')).toMatchObject({ key: { keysym: 0x20, code: 'Space' }, shift: false });
  });

  it('holds Shift for capitals and the upper symbols of a key', () => {
    expect(strokeFor('Q')).toEqual({ char: 'Q', key: { keysym: 0x51, code: 'KeyQ' }, shift: true });
    expect(strokeFor('!')).toMatchObject({ key: { keysym: 0x21, code: 'Digit1' }, shift: true });
    expect(strokeFor('"')).toMatchObject({ key: { keysym: 0x22, code: 'Quote' }, shift: true });
    expect(strokeFor('~')).toMatchObject({ key: { keysym: 0x7e, code: 'Backquote' }, shift: true });
    expect(strokeFor('|')).toMatchObject({ key: { code: 'Backslash' }, shift: true });
  });

  it('has a key for every printable ASCII character, and Enter and Tab', () => {
    for (let c = 0x20; c < 0x7f; c++) expect(strokeFor(String.fromCharCode(c)), `char ${c}`).not.toBeNull();
    expect(strokeFor('\n')).toMatchObject({ key: KEY.enter, shift: false });
    expect(strokeFor('\t')).toMatchObject({ key: KEY.tab, shift: false });
  });

  it('makes every line end one Enter, and skips and names what no US key types', () => {
    const plan = planTyping('é1\r\n2\r3\n€é😀\u00a0');
    expect(plan.strokes.map((s) => s.key.code)).toEqual(['Digit1', 'Enter', 'Digit2', 'Enter', 'Digit3', 'Enter']);
    expect(plan.untypable).toEqual(['é', '€', '😀', '\u00a0']);
    expect(plan.skipped).toBe(5);
    expect(plan.untypable.map(describeChar)).toEqual([
      '“é”',
      '“€”',
      '“😀”',
      "U+00A0 (a space other than the space bar's)",
    ]);
    expect(describeChar('\u0007')).toBe('U+0007 (a control character)');
  });

  it(`refuses empty text and text over ${MAX_TYPED_CHARS} characters, counting an emoji as one`, () => {
    expect(typingRefusal('')).toMatch(/^There is nothing to type/);
    expect(typingRefusal('x'.repeat(MAX_TYPED_CHARS))).toBeNull();
    expect(typingRefusal('😀'.repeat(MAX_TYPED_CHARS))).toBeNull();
    expect(typingRefusal('x'.repeat(MAX_TYPED_CHARS + 1))).toBe(
      'The text has 2,001 characters; Type text sends at most 2,000 (about a minute of typing). ' +
        'Type it in parts, or copy a long file into the guest another way (a shared folder, the network).',
    );
  });
});

describe('typing, paced and cancellable', () => {
  it('presses each key and releases it, with Shift around shifted characters, pausing 12 ms per event', async () => {
    const { events, sink } = recorder();
    const waits: number[] = [];
    const progress: number[] = [];
    const out = await typeStrokes(planTyping('aB\n').strokes, sink, {
      onProgress: (n) => progress.push(n),
      wait: async (ms) => void waits.push(ms),
    });
    expect(out).toEqual({ kind: 'done', typed: 3 });
    expect(events).toEqual(['+KeyA', '-KeyA', '+ShiftLeft', '+KeyB', '-KeyB', '-ShiftLeft', '+Enter', '-Enter']);
    expect(waits).toEqual([24, 48, 24]);
    expect(progress).toEqual([1, 2, 3]);
  });

  it('stops between characters when cancelled, never leaving Shift down', async () => {
    const { events, sink } = recorder();
    const ac = new AbortController();
    const out = await typeStrokes(planTyping('ABCDEF').strokes, sink, {
      signal: ac.signal,
      onProgress: (n) => {
        if (n === 2) ac.abort();
      },
      wait: async () => undefined,
    });
    expect(out).toEqual({ kind: 'cancelled', typed: 2 });
    expect(events).toEqual([
      '+ShiftLeft',
      '+KeyA',
      '-KeyA',
      '-ShiftLeft',
      '+ShiftLeft',
      '+KeyB',
      '-KeyB',
      '-ShiftLeft',
    ]);
  });

  it('ends the wait at once when cancelled mid-pause (the real timer)', async () => {
    const { sink } = recorder();
    const ac = new AbortController();
    const started = typeStrokes(planTyping('ab').strokes, sink, { signal: ac.signal, msPerEvent: 3_600_000 });
    ac.abort();
    await expect(started).resolves.toEqual({ kind: 'cancelled', typed: 1 });
  });

  it('says how far it got when the screen disconnects', async () => {
    const { events, sink } = recorder(3);
    const out = await typeStrokes(planTyping('abc').strokes, sink, { msPerEvent: 0 });
    expect(out).toEqual({ kind: 'disconnected', typed: 1 });
    expect(events).toEqual(['+KeyA', '-KeyA', '+KeyB']);
  });
});

describe('special keys', () => {
  it('presses a combination in order and releases it in reverse', () => {
    expect(comboEvents(SPECIAL_KEYS.ctrlAltDel.keys).map((e) => `${e.down ? '+' : '-'}${e.key.code}`)).toEqual([
      '+ControlLeft',
      '+AltLeft',
      '+Delete',
      '-Delete',
      '-AltLeft',
      '-ControlLeft',
    ]);
  });

  it('offers Ctrl+Alt+F1 to F12 with the F-key keysyms 0xffbe to 0xffc9, and SysRq as Alt+PrintScreen', () => {
    expect(CTRL_ALT_FN.map((k) => k.label)).toEqual(Array.from({ length: 12 }, (_, i) => `Ctrl+Alt+F${i + 1}`));
    expect(CTRL_ALT_FN[0]!.keys[2]).toEqual({ keysym: 0xffbe, code: 'F1' });
    expect(CTRL_ALT_FN[11]!.keys[2]).toEqual({ keysym: 0xffc9, code: 'F12' });
    expect(SPECIAL_KEYS.sysRq.keys.map((k) => k.code)).toEqual(['AltLeft', 'PrintScreen']);
  });

  it('releases the keyboard on Ctrl+Alt+G only', () => {
    const e = { ctrlKey: true, altKey: true, metaKey: false, code: 'KeyG' };
    expect(isReleaseShortcut(e)).toBe(true);
    expect(isReleaseShortcut({ ...e, altKey: false })).toBe(false);
    expect(isReleaseShortcut({ ...e, metaKey: true })).toBe(false);
    expect(isReleaseShortcut({ ...e, code: 'KeyH' })).toBe(false);
  });
});
