import { describe, expect, it } from 'vitest';
import { appendTerminalText, EMPTY_TERMINAL_TEXT, type TerminalText } from './terminal-text.js';

const clean = (...chunks: string[]): TerminalText => chunks.reduce(appendTerminalText, EMPTY_TERMINAL_TEXT);

describe('a serial log as a terminal would show it', () => {
  it('drops colours, cursor moves, bracketed paste, window titles and charset selection', () => {
    const bash =
      '\x1b]0;root@guest: ~\x07\x1b[?2004h\x1b[01;32mroot@guest\x1b[00m:\x1b[01;34m~\x1b[00m# ls\r\n' +
      '\x1b[?2004l\r\x1b[0m\x1b[01;34mbin\x1b[0m  \x1b(Bboot\x1b[K\r\n';
    expect(clean(bash).text).toBe('root@guest:~# ls\nbin  boot\n');
  });

  it('keeps a sequence split across chunks until it ends, whatever the split', () => {
    const s = 'ok \x1b[1;31mred\x1b[0m \x1b]2;title\x1b\\done\r\nnext\n';
    for (let cut = 0; cut <= s.length; cut++) {
      const r = clean(s.slice(0, cut), s.slice(cut));
      expect(r, `cut at ${cut}`).toEqual({ text: 'ok red done\nnext\n', pending: '' });
    }
  });

  it('reads CR LF as one newline even when the chunk ends between them', () => {
    expect(clean('a\r', '\nb').text).toBe('a\nb');
    expect(clean('a\r').pending).toBe('\r');
  });

  it('starts a line again at a lone CR (a progress bar), and a backspace takes a character back', () => {
    expect(clean('boot\n 10%\r 50%\r100%\n').text).toBe('boot\n100%\n');
    expect(clean('lz\bs -l\n').text).toBe('ls -l\n');
    // Never across a line: a backspace at a line start is nothing.
    expect(clean('a\n\bb').text).toBe('a\nb');
  });

  it('drops other control characters but keeps tabs and any printable text (UTF-8 decoded)', () => {
    expect(clean('\x00\x07a\tb\x7f\x0e ünïcödé ✓\n').text).toBe('a\tb ünïcödé ✓\n');
  });
});
