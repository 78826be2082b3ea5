/** Plain-text, case-insensitive search in a log (no regular expressions: people paste paths). */

export interface Match {
  start: number;
  end: number;
}

/** Every non-overlapping occurrence of `query` in `text`, in order. Empty query: none. */
export function findMatches(text: string, query: string, limit = 10_000): Match[] {
  if (query === '') return [];
  const hay = text.toLowerCase();
  const needle = query.toLowerCase();
  // toLowerCase can change the length of some characters (e.g. "İ"); then offsets would drift,
  // so fall back to an exact-case search.
  const exact = hay.length !== text.length || needle.length !== query.length;
  const h = exact ? text : hay;
  const n = exact ? query : needle;
  const out: Match[] = [];
  let at = h.indexOf(n);
  while (at !== -1 && out.length < limit) {
    out.push({ start: at, end: at + n.length });
    at = h.indexOf(n, at + n.length);
  }
  return out;
}

export type Segment = { text: string; match: number | null };

/** The text cut into plain runs and matches (with the match's index), for rendering marks. */
export function segments(text: string, matches: Match[]): Segment[] {
  const out: Segment[] = [];
  let pos = 0;
  matches.forEach((m, i) => {
    if (m.start > pos) out.push({ text: text.slice(pos, m.start), match: null });
    out.push({ text: text.slice(m.start, m.end), match: i });
    pos = m.end;
  });
  if (pos < text.length) out.push({ text: text.slice(pos), match: null });
  return out;
}

/** The next (or previous) match index, wrapping around; -1 when there are none. */
export function stepMatch(current: number, count: number, direction: 1 | -1): number {
  if (count === 0) return -1;
  if (current < 0) return direction === 1 ? 0 : count - 1;
  return (current + direction + count) % count;
}

/** Keeps the end of a growing log: past `max` characters, cut at a line start. */
export function trimLog(text: string, max = 2_000_000): string {
  if (text.length <= max) return text;
  const from = text.indexOf('\n', text.length - Math.floor(max * 0.75));
  return from === -1 ? text.slice(text.length - max) : text.slice(from + 1);
}
