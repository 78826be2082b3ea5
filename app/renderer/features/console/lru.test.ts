import { describe, expect, it } from 'vitest';
import { Lru } from './lru.js';

describe('the console session LRU', () => {
  it('evicts the least recently used beyond its limit', () => {
    const lru = new Lru<string>(2);
    lru.set('a', 'A');
    lru.set('b', 'B');
    lru.get('a');
    expect(lru.set('c', 'C')).toEqual(['B']);
    expect(lru.entries().map(([k]) => k)).toEqual(['a', 'c']);
  });

  it('never evicts what is on screen, even past its limit', () => {
    const onScreen = new Set(['A']);
    const lru = new Lru<string>(1, (v) => !onScreen.has(v));
    lru.set('a', 'A');
    expect(lru.set('b', 'B')).toEqual([]);
    expect(lru.size).toBe(2);
    onScreen.clear();
    expect(lru.set('c', 'C')).toEqual(['A', 'B']);
  });
});
