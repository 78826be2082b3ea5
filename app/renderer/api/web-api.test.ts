import { describe, expect, it } from 'vitest';
import { reconnectDelay, tokenFromHash } from './web-api.js';

describe('the web api', () => {
  it('reads the token from the page hash', () => {
    expect(tokenFromHash('#token=abc%2Fdef')).toBe('abc/def');
    expect(tokenFromHash('#demo')).toBeNull();
    expect(tokenFromHash('')).toBeNull();
  });

  it('backs off exponentially up to 8 s, with jitter', () => {
    const mid = () => 0.5;
    expect([0, 1, 2, 3, 4, 5, 9].map((a) => reconnectDelay(a, mid))).toEqual([250, 500, 1000, 2000, 4000, 8000, 8000]);
    expect(reconnectDelay(0, () => 0)).toBe(200);
    expect(reconnectDelay(0, () => 1)).toBe(300);
  });
});
