/**
 * A small least-recently-used map for console sessions. Entries the caller marks as not
 * evictable (a session on screen) are skipped, so the map can briefly exceed its limit.
 */
export class Lru<V> {
  private readonly map = new Map<string, V>();

  constructor(
    readonly limit: number,
    private readonly canEvict: (v: V) => boolean = () => true,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** The value, marked as most recently used. */
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  /** Adds as most recently used; returns what was evicted (the caller disposes it). */
  set(key: string, value: V): V[] {
    this.map.delete(key);
    this.map.set(key, value);
    const evicted: V[] = [];
    for (const [k, v] of this.map) {
      if (this.map.size <= this.limit) break;
      if (k !== key && this.canEvict(v)) {
        this.map.delete(k);
        evicted.push(v);
      }
    }
    return evicted;
  }

  delete(key: string): V | undefined {
    const v = this.map.get(key);
    this.map.delete(key);
    return v;
  }

  entries(): [string, V][] {
    return [...this.map.entries()];
  }
}
