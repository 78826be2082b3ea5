import { describe, expect, it } from 'vitest';
import { groupsThatFit } from './OverflowToolbar.js';

describe('the toolbar that folds into More', () => {
  const widths = [260, 240, 90, 70, 75];
  const ranks = [4, 3, 1, 1, 2];

  it('keeps every group when they all fit, More included nowhere', () => {
    expect(groupsThatFit(widths, ranks, 80, 10, 775)).toEqual([0, 1, 2, 3, 4]);
  });

  it('moves the lowest-ranked groups out first, keeping room for More and the row order', () => {
    // 80 (More) + 260 + 240 + 75 + 3 gaps = 685: Eject and Clone go.
    expect(groupsThatFit(widths, ranks, 80, 10, 700)).toEqual([0, 1, 4]);
    // At equal ranks the later group leaves first.
    expect(groupsThatFit([100, 100, 100], [0, 0, 0], 50, 0, 260)).toEqual([0, 1]);
  });

  it('keeps only More when not even the first group fits', () => {
    expect(groupsThatFit(widths, ranks, 80, 10, 300)).toEqual([]);
    expect(groupsThatFit(widths, ranks, 80, 10, 360)).toEqual([0]);
  });
});
