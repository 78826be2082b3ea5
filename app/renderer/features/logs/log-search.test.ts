import { describe, expect, it } from 'vitest';
import { findMatches, segments, stepMatch, trimLog } from './log-search.js';

describe('log search', () => {
  it('finds every occurrence, ignoring case', () => {
    expect(findMatches('VNC vnc Vnc', 'vnc')).toEqual([
      { start: 0, end: 3 },
      { start: 4, end: 7 },
      { start: 8, end: 11 },
    ]);
  });

  it('finds nothing for an empty query and does not overlap matches', () => {
    expect(findMatches('abc', '')).toEqual([]);
    expect(findMatches('aaaa', 'aa')).toEqual([
      { start: 0, end: 2 },
      { start: 2, end: 4 },
    ]);
  });

  it('treats the query as plain text, not a regular expression', () => {
    expect(findMatches('a.b axb (x)', '.')).toEqual([{ start: 1, end: 2 }]);
    expect(findMatches('a.b axb (x)', '(x)')).toEqual([{ start: 8, end: 11 }]);
  });

  it('keeps offsets right when lower-casing would change lengths', () => {
    const text = 'İstanbul disk';
    const m = findMatches(text, 'disk');
    expect(m.map((x) => text.slice(x.start, x.end))).toEqual(['disk']);
  });

  it('cuts the text into plain runs and numbered matches', () => {
    const text = 'one vnc two vnc';
    expect(segments(text, findMatches(text, 'vnc'))).toEqual([
      { text: 'one ', match: null },
      { text: 'vnc', match: 0 },
      { text: ' two ', match: null },
      { text: 'vnc', match: 1 },
    ]);
  });

  it('steps through matches with Enter, wrapping around', () => {
    expect(stepMatch(-1, 3, 1)).toBe(0);
    expect(stepMatch(2, 3, 1)).toBe(0);
    expect(stepMatch(0, 3, -1)).toBe(2);
    expect(stepMatch(-1, 3, -1)).toBe(2);
    expect(stepMatch(0, 0, 1)).toBe(-1);
  });

  it('trims a long log at a line start, keeping the end', () => {
    const log = Array.from({ length: 1000 }, (_, i) => `line ${i}`).join('\n');
    const t = trimLog(log, 1000);
    expect(t.length).toBeLessThanOrEqual(1000);
    expect(t.endsWith('line 999')).toBe(true);
    expect(t.startsWith('line ')).toBe(true);
  });
});
