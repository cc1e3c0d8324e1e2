import { LRUCache } from 'lru-cache';

/** One L1 entry. Times are `Date.now()` milliseconds. */
export interface MemoryEntry {
  /** A deeply frozen copy (plain JSON), or the tagged tree to decode on each read. */
  readonly value: unknown;
  readonly tagged: boolean;
  /** When the value was produced (the factory's start): tag invalidations after it hide it. */
  readonly createdAt: number;
  /** Fresh until then. */
  readonly expiresAt: number;
  /** Served as stale (grace) until then. */
  readonly staleUntil: number;
  readonly tags: readonly string[] | undefined;
  /**
   * For an entry made here while the bus was subscribed: the tag clock's eviction count at
   * that time, meaning "every invalidation of my tags since my creation reached this
   * process". -1 otherwise (the entry's tag times must be known to trust it).
   */
  readonly trust: number;
  /** Approximate bytes: the JSON length of the value plus the key and a fixed overhead. */
  readonly size: number;
  /**
   * Set when a `getOrSet` loaded or answered it. `refreshOnInvalidate` refreshes only entries
   * read since they were stored, so a key nobody reads is not loaded again on every write.
   */
  read: boolean;
}

/** Settings of {@link Memory}, validated by the cache. */
export interface MemorySettings {
  maxEntries: number;
  maxBytes: number;
}

// What an entry costs beyond its JSON: the entry object, the LRU's slots, the key's string.
const ENTRY_OVERHEAD = 96;

/**
 * The in-process tier: lru-cache bounded by entries and by bytes. Expiry is checked by the
 * cache against each entry's own times (an L1 copy of an L2 entry keeps the L2 expiry), so
 * lru-cache's own TTL machinery is left off and a hit costs one map lookup.
 */
export class Memory {
  readonly #lru: LRUCache<string, MemoryEntry>;
  readonly maxEntries: number;
  readonly maxBytes: number;

  constructor(settings: MemorySettings) {
    this.maxEntries = settings.maxEntries;
    this.maxBytes = settings.maxBytes;
    this.#lru = new LRUCache<string, MemoryEntry>({
      max: settings.maxEntries,
      maxSize: settings.maxBytes,
      sizeCalculation: (entry) => entry.size,
    });
  }

  /** Bytes an entry of this key and JSON length takes. */
  static sizeOf(key: string, jsonLength: number): number {
    return ENTRY_OVERHEAD + key.length * 2 + jsonLength;
  }

  get(key: string): MemoryEntry | undefined {
    return this.#lru.get(key);
  }

  /** Stores an entry; one larger than `maxBytes` is not kept (and any older copy is dropped). */
  set(key: string, entry: MemoryEntry): void {
    if (entry.size > this.maxBytes) {
      this.#lru.delete(key);
      return;
    }
    this.#lru.set(key, entry);
  }

  delete(key: string): void {
    this.#lru.delete(key);
  }

  /** Drops every entry, or those whose key starts with `prefix`. */
  clear(prefix = ''): void {
    if (prefix === '') {
      this.#lru.clear();
      return;
    }
    for (const key of [...this.#lru.keys()]) if (key.startsWith(prefix)) this.#lru.delete(key);
  }

  get entries(): number {
    return this.#lru.size;
  }

  get bytes(): number {
    return this.#lru.calculatedSize;
  }
}
