import type { CircuitState, Logger } from '@fairmind/core';
import type { Registry } from 'prom-client';
import type { BusState } from '../bus/index.js';
import { decode } from '../codec/index.js';
import type { Duration } from '../duration/index.js';
import { closedError, invalidArgument, invalidOptions, PKG } from '../errors/index.js';
import type { MemoryEntry } from '../memory/index.js';
import type { RedisClient } from '../store/index.js';
import { UNAVAILABLE } from '../store/index.js';
import {
  CacheTiers,
  checkKey,
  checkTags,
  type Flight,
  NAME,
  type Prepared,
  type Read,
  type Resolved,
  readValue,
} from '../tiers/index.js';

/** Options of {@link createCache}. */
export interface CacheOptions {
  /**
   * Redis for L2: an ioredis client (`Redis` or `Cluster`) that you own and close, or a
   * `redis://` / `rediss://` URL (`REDIS_URL`) from which the cache makes a client it owns
   * and closes. Leave it out to run on L1 alone (one process, `status().mode === 'memory'`).
   *
   * A client you pass should be made with `enableOfflineQueue: false` (commands fail at once
   * while disconnected); the cache puts its own deadline on every command either way.
   * @default undefined (memory only)
   */
  redis?: RedisClient | string | undefined;
  /**
   * The in-process LRU tier, bounded by entries and by bytes, or `false` for none.
   * `ttl` caps how long any entry stays in L1, which bounds how stale an instance can be
   * when an invalidation message is lost.
   * @default { maxEntries: 10_000, maxBytes: 67_108_864 }
   */
  l1?: false | L1Options | undefined;
  /**
   * How long an entry is fresh (`REDIS_TTL`, in seconds there).
   * @default '1h'
   */
  ttl?: Duration | undefined;
  /**
   * How long past its TTL an entry is kept to be served when the factory fails (or is
   * slower than `softTimeout`), and by `get` while Redis is away. `0` turns it off.
   * @default 0
   */
  grace?: Duration | undefined;
  /**
   * Each TTL is shortened by a random part of up to this fraction, so that entries written
   * together do not all expire together.
   * @default 0.1
   */
  jitter?: number | undefined;
  /**
   * With a stale value at hand, answer it after this long and let the factory finish in
   * the background. Needs `grace`.
   * @default undefined (wait for the factory)
   */
  softTimeout?: Duration | undefined;
  /**
   * Refresh in the background once this fraction of the TTL has passed (0 < x < 1), so
   * that hot keys never expire in front of a caller.
   * @default undefined (off)
   */
  earlyRefresh?: number | undefined;
  /**
   * Prefix of every Redis key and of the bus channel: letters, digits, `_`, `.`, `-`.
   * Instances that share data must share it.
   * @default 'fm'
   */
  namespace?: string | undefined;
  /**
   * The deadline of every Redis command, in ms. A call never waits longer than this for
   * Redis; past it the cache answers from L1 or the factory.
   * @default 100
   */
  commandTimeoutMs?: number | undefined;
  /** The circuit breaker in front of Redis. */
  breaker?: BreakerOptions | undefined;
  /**
   * How long a tag's invalidation time is kept in Redis. Tagged entries never live longer
   * in Redis than this, so an old entry cannot outlive the record that hides it.
   * @default '7d'
   */
  tagRetention?: Duration | undefined;
  /**
   * This instance's id on the bus (messages carrying it are its own and ignored).
   * @default a random UUID
   */
  instanceId?: string | undefined;
  /** @default silentLogger */
  logger?: Logger | undefined;
  /** Where to register the metrics; none when unset. */
  registry?: Registry | undefined;
  /**
   * The `cache` label of the metrics, to tell several caches apart in one registry.
   * @default 'default'
   */
  name?: string | undefined;
}

/** Options of the L1 tier. */
export interface L1Options {
  /** @default 10_000 */
  maxEntries?: number | undefined;
  /**
   * Approximate bytes (JSON length of the values, plus keys and a fixed overhead).
   * @default 67_108_864 (64 MiB)
   */
  maxBytes?: number | undefined;
  /**
   * The longest an entry stays fresh in L1, whatever its TTL.
   * @default the entry's TTL
   */
  ttl?: Duration | undefined;
}

/** Options of the circuit breaker. */
export interface BreakerOptions {
  /**
   * Consecutive failed or timed-out commands that open the circuit.
   * @default 5
   */
  failureThreshold?: number | undefined;
  /**
   * How long the circuit stays open before one command probes Redis again.
   * @default 1_000
   */
  resetTimeoutMs?: number | undefined;
}

/** Per-entry options of `set`, `setMany` and the factories. */
export interface EntryOptions {
  /** @default the cache's `ttl` */
  ttl?: Duration | undefined;
  /** @default the cache's `grace` */
  grace?: Duration | undefined;
  /** Tags to invalidate the entry by (see {@link Cache.invalidateTags}). */
  tags?: readonly string[] | undefined;
}

/** Options of `getOrSet` and `cached`. */
export interface GetOrSetOptions extends EntryOptions {
  /** @default the cache's `softTimeout` */
  softTimeout?: Duration | undefined;
  /** @default the cache's `earlyRefresh` */
  earlyRefresh?: number | undefined;
  /**
   * When `invalidateTags` on this instance hides the entry, run the factory again before that
   * call resolves, and keep answering the previous value to the `getOrSet` calls that come
   * meanwhile, as hits. Reads that overlap the write which invalidated may see either side of
   * it (that write has not been answered yet); every read after `invalidateTags` resolves sees
   * the new value. So a key read far more often than written stays a hit across writes, and
   * its factory runs once per invalidation, or once for all that arrive during one run.
   * Only an entry read through `getOrSet` since it was stored is refreshed; one nobody read
   * is dropped as without this option. Needs `tags`. The factory must depend on nothing but
   * the key (it runs outside any request). A refresh that fails or takes over 10 s is given
   * up, logged, and the key is loaded on its next read as without this option. Only the
   * instance that invalidates refreshes; the others drop their copy and read what it stored
   * in Redis.
   * @default false
   * @example
   * ```ts
   * const list = await cache.getOrSet('models:list', () => db.listModels(), {
   *   tags: ['models'],
   *   refreshOnInvalidate: true,
   * });
   * // after a write: refreshes 'models:list' while reads go on answering the old list
   * await cache.invalidateTags(['models']);
   * ```
   */
  refreshOnInvalidate?: boolean | undefined;
}

/** One item of {@link Cache.setMany}. */
export interface SetManyItem<T = unknown> extends EntryOptions {
  readonly key: string;
  readonly value: T;
}

/** What a factory receives. */
export interface FactoryContext {
  /** The key being computed (without the namespace prefix). */
  readonly key: string;
}

/**
 * A callback of a cached function's arguments. Declared with method syntax so that one taking
 * fewer arguments (only the id of `(id, detail?)`) is accepted, which TypeScript refuses for
 * a plain function type over a rest tuple with optional elements.
 */
export type ArgsCallback<A extends unknown[], R> = {
  bivarianceHack(...args: A): R;
}['bivarianceHack'];

/** Options of {@link Cache.cached}. */
export interface CachedOptions<A extends unknown[]> extends Omit<GetOrSetOptions, 'tags'> {
  /**
   * The key of a call. By default the function's name and its arguments as JSON, which
   * needs a named function and JSON arguments.
   */
  key?: ArgsCallback<A, string> | undefined;
  /** Tags of a call's entry: a list, or one computed from the arguments. */
  tags?: readonly string[] | ArgsCallback<A, readonly string[]> | undefined;
}

/** Where the cache stands, for logs, `/health` and tests. */
export interface CacheStatus {
  /** `redis` with an L2, `memory` on L1 alone. */
  readonly mode: 'redis' | 'memory';
  /** The L2 connection: `none` in memory mode. */
  readonly redis: 'ready' | 'connecting' | 'down' | 'none';
  readonly circuit: CircuitState;
  /** The invalidation bus: `off` in memory mode. */
  readonly bus: BusState | 'off';
  /** Redis is configured but cannot be used: calls are served from L1 and factories. */
  readonly degraded: boolean;
  readonly l1: {
    readonly enabled: boolean;
    readonly entries: number;
    readonly bytes: number;
    readonly maxEntries: number;
    readonly maxBytes: number;
  };
  /** Writes made while Redis was away, replayed (as deletes) once it is back. */
  readonly pendingInvalidations: number;
}

/** Counters since creation, for code (the same figures as the metrics). */
export interface CacheStats {
  readonly hits: { readonly l1: number; readonly l2: number };
  readonly misses: { readonly l1: number; readonly l2: number };
  readonly staleHits: number;
  /** Factory runs, failed ones, and the seconds they ran all together. */
  readonly factory: { readonly runs: number; readonly errors: number; readonly seconds: number };
  /**
   * Reads that missed and waited for a load of the same key already running instead of
   * starting one: under writes that keep invalidating a hot key, most reads are these.
   */
  readonly coalesced: number;
  readonly errors: number;
  readonly bus: { readonly sent: number; readonly received: number };
  readonly l1Flushes: number;
}

/** The result of {@link Cache.health}. */
export interface CacheHealth {
  /** False only when Redis is configured and did not answer a PING in time. */
  readonly ok: boolean;
  readonly mode: 'redis' | 'memory';
  /** PING round trip, or `null` in memory mode or when Redis did not answer. */
  readonly latencyMs: number | null;
  readonly status: CacheStatus;
}

/** The two-level cache. Every method is safe to call while Redis is down. */
export interface Cache {
  /** The value, or `undefined` on a miss. A stored `null` is a hit. */
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** Whether a fresh entry exists (one holding `undefined` counts). */
  has(key: string): Promise<boolean>;
  /** Stores a value in both tiers and tells the other instances to drop their copy. */
  set<T>(key: string, value: T, options?: EntryOptions): Promise<void>;
  delete(key: string): Promise<void>;
  /** Values in the order of `keys`, with one Redis round trip for all L1 misses. */
  getMany<T = unknown>(keys: readonly string[]): Promise<Array<T | undefined>>;
  /** Stores several values, each with its own options, in one Redis round trip. */
  setMany(items: ReadonlyArray<SetManyItem>): Promise<void>;
  deleteMany(keys: readonly string[]): Promise<void>;
  /**
   * The cached value, or the factory's (stored, then returned). Concurrent misses of one
   * key in this process run the factory once; its error reaches every waiter.
   */
  getOrSet<T>(
    key: string,
    factory: (context: FactoryContext) => T | Promise<T>,
    options?: GetOrSetOptions,
  ): Promise<T>;
  /**
   * Values for `keys`; the factory is called once with only the keys missing from both
   * tiers and returns a `Map` or a record of their values. Keys it leaves out stay
   * uncached and come back `undefined`.
   */
  getOrSetMany<T>(
    keys: readonly string[],
    factory: (missing: string[]) => Promise<ReadonlyMap<string, T> | Readonly<Record<string, T>>>,
    options?: GetOrSetOptions,
  ): Promise<Array<T | undefined>>;
  /** `fn` wrapped so that each call goes through {@link Cache.getOrSet}. */
  cached<A extends unknown[], R>(
    fn: (...args: A) => R | Promise<R>,
    options?: CachedOptions<NoInfer<A>>,
  ): (...args: A) => Promise<Awaited<R>>;
  /**
   * Hides every entry carrying one of `tags`, on every instance, in work proportional to
   * the number of tags (a time per tag in Redis, checked on read). Resolves once the entries
   * of this instance stored with `refreshOnInvalidate` are computed again.
   */
  invalidateTags(tags: readonly string[]): Promise<void>;
  /** Deletes every entry of this cache (or of the namespace `name` under it). */
  clear(name?: string): Promise<void>;
  /** A view whose keys live under `name:`; it shares tiers, bus and tags with this cache. */
  namespace(name: string): Cache;
  status(): CacheStatus;
  stats(): CacheStats;
  /** PINGs Redis under the command deadline; never throws. */
  health(): Promise<CacheHealth>;
  /** Resolves once Redis is ready and the bus subscribed, or after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<CacheStatus>;
  /** Closes the bus and, when the cache made it, the Redis client. Views close the whole cache. */
  close(): Promise<void>;
}

/** One run of a factory for a miss: what {@link CacheView} needs to run it and store its value. */
interface FactoryJob<T> {
  /** The key as the caller gave it, which the factory sees. */
  readonly key: string;
  /** The key with the namespace prefix, as it is stored. */
  readonly full: string;
  readonly factory: (context: FactoryContext) => T | Promise<T>;
  readonly resolved: Resolved;
}

/** What the factory of {@link Cache.getOrSetMany} returns: a `Map` or a record of values. */
type BatchResult<T> = ReadonlyMap<string, T> | Readonly<Record<string, T>>;

function hasValue<T>(result: BatchResult<T>, name: string): boolean {
  return result instanceof Map ? result.has(name) : Object.hasOwn(result, name);
}

function valueIn<T>(result: BatchResult<T>, name: string): T | undefined {
  return result instanceof Map ? result.get(name) : (result as Record<string, T>)[name];
}

/** How a getOrSetMany call settles the flight of one key it computes. */
interface Settle {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  flight: Flight;
  done: () => void;
}

// What a key computed by this getOrSetMany call waits for until its own flight replaces it:
// only its presence matters (a key listed twice is computed once).
const PLACEHOLDER: Promise<unknown> = Promise.resolve(undefined);

/**
 * The keys of one {@link Cache.getOrSetMany} call that neither tier had fresh. Made only
 * when there is one, and its maps only when needed: an all-hit call allocates none of it.
 */
class Batch {
  /** What each key waits for: another call's flight, or this call's own. */
  readonly waits = new Map<string, Promise<unknown>>();
  /** The keys this call computes, in the caller's order. */
  readonly missing: string[] = [];
  /** Their stale entries, served when the factory fails. */
  stale: Map<string, MemoryEntry> | undefined;
  /** One per missing key, all settled by the one batch call. */
  settle: Map<string, Settle> | undefined;
  /** The clock when the factory started: the `createdAt` of what it returns. */
  startedAt = 0;
}

/**
 * One view of a cache: the root, or a namespace under it. Keys are prefixed with the view's
 * path before they reach the shared {@link CacheTiers}.
 */
class CacheView implements Cache {
  readonly #core: CacheTiers;
  readonly #prefix: string;

  constructor(core: CacheTiers, prefix: string) {
    this.#core = core;
    this.#prefix = prefix;
  }

  #key(key: string): string {
    checkKey(key);
    return this.#prefix === '' ? key : this.#prefix + key;
  }

  get<T = unknown>(key: string): Promise<T | undefined> {
    const core = this.#core;
    let full: string;
    try {
      core.checkOpen();
      full = this.#key(key);
    } catch (error) {
      return Promise.reject(error);
    }
    return core.readOneThen(full, this.#answer) as Promise<T | undefined>;
  }

  readonly #answer = (read: Read): unknown => {
    if (read.fresh !== undefined) return readValue(read.fresh);
    // Grace: with Redis away, a stale copy beats no answer.
    if (read.unavailable && read.stale !== undefined) {
      this.#core.counters.staleHits++;
      return readValue(read.stale);
    }
    return undefined;
  };

  async has(key: string): Promise<boolean> {
    this.#core.checkOpen();
    const read = await this.#core.readOne(this.#key(key));
    return read.fresh !== undefined;
  }

  async set<T>(key: string, value: T, options?: EntryOptions): Promise<void> {
    const core = this.#core;
    core.checkOpen();
    const full = this.#key(key);
    const prepared = core.prepare(full, value, core.resolve(options), core.tick());
    await core.write([full], [prepared]);
  }

  async delete(key: string): Promise<void> {
    this.#core.checkOpen();
    await this.#core.remove([this.#key(key)]);
  }

  async getMany<T = unknown>(keys: readonly string[]): Promise<Array<T | undefined>> {
    this.#core.checkOpen();
    const reads = await this.#core.readMany(keys.map((key) => this.#key(key)));
    return reads.map((read) => this.#answer(read) as T | undefined);
  }

  async setMany(items: ReadonlyArray<SetManyItem>): Promise<void> {
    const core = this.#core;
    core.checkOpen();
    if (!Array.isArray(items)) throw invalidArgument('setMany() takes an array of { key, value }');
    const now = core.tick();
    // Every item is encoded before anything is written: one bad value writes nothing.
    const keys = items.map((item) => this.#key(item.key));
    const prepared = items.map((item, index) =>
      core.prepare(keys[index] as string, item.value, core.resolve(item), now),
    );
    // A key given twice: the last item wins, as it would with set() in a loop.
    const last = new Map<string, number>();
    keys.forEach((key, index) => {
      last.set(key, index);
    });
    const unique = [...last.values()];
    await core.write(
      unique.map((index) => keys[index] as string),
      unique.map((index) => prepared[index] as (typeof prepared)[number]),
    );
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    this.#core.checkOpen();
    await this.#core.remove([...new Set(keys.map((key) => this.#key(key)))]);
  }

  getOrSet<T>(
    key: string,
    factory: (context: FactoryContext) => T | Promise<T>,
    options?: GetOrSetOptions,
  ): Promise<T> {
    const core = this.#core;
    if (core.closed) return Promise.reject(closedError());
    if (typeof key !== 'string' || key === '') return this.#load(key, key, factory, options);
    const full = this.#prefix === '' ? key : this.#prefix + key;
    // The L1 hit path: one map lookup and two comparisons, no await.
    const entry = core.memory?.get(full);
    if (entry !== undefined) {
      const now = Date.now();
      if (
        now < entry.expiresAt &&
        (entry.tags === undefined ||
          core.tagsValid(entry.tags, entry.createdAt, entry.trust) === true)
      ) {
        core.counters.l1Hits++;
        entry.read = true;
        const early = options?.earlyRefresh ?? core.settings.earlyRefresh;
        if (
          early !== undefined &&
          now >= entry.createdAt + (entry.expiresAt - entry.createdAt) * early &&
          core.flight(full) === undefined
        ) {
          this.#refresh(key, full, factory, options);
        }
        return Promise.resolve((entry.tagged ? decode(entry.value, true) : entry.value) as T);
      }
    }
    return this.#load(key, full, factory, options);
  }

  async #load<T>(
    key: string,
    full: string,
    factory: (context: FactoryContext) => T | Promise<T>,
    options: GetOrSetOptions | undefined,
  ): Promise<T> {
    checkKey(key);
    if (typeof factory !== 'function') throw invalidArgument('getOrSet() needs a factory function');
    const core = this.#core;
    const resolved = core.resolve(options);
    // Being computed again after an invalidation on this instance: the previous value.
    const held = core.held(full);
    if (held !== undefined) {
      core.counters.l1Hits++;
      return readValue(held) as T;
    }
    const joined = core.flight(full);
    if (joined !== undefined) {
      core.counters.coalesced++;
      return joined.promise as Promise<T>;
    }
    if (resolved.refreshOnInvalidate && resolved.tags !== undefined) {
      const job = { key, full, factory, resolved };
      core.renewable(full, { tags: resolved.tags, run: () => this.#produce(job) });
    }
    return core.fly(full, resolved.tags, async (flight, done) => {
      let read: Read;
      try {
        read = await core.readOne(full);
      } catch (error) {
        done();
        throw error;
      }
      if (read.fresh !== undefined) {
        read.fresh.read = true;
        done();
        return readValue(read.fresh) as T;
      }
      return this.#compute({ key, full, factory, resolved }, flight, done, read.stale);
    });
  }

  /** Runs the factory for a miss, with grace and the soft timeout around it. */
  async #compute<T>(
    job: FactoryJob<T>,
    flight: Flight,
    done: () => void,
    stale: MemoryEntry | undefined,
  ): Promise<T> {
    const core = this.#core;
    const { full, resolved } = job;
    const settled = this.#run(job, flight).finally(done);
    if (stale === undefined) return settled;
    const fallback = (reason: string, error?: unknown): T => {
      core.counters.staleHits++;
      core.settings.logger.warn(
        { key: full, err: error },
        `${PKG} serving a stale value: ${reason}`,
      );
      return readValue(stale) as T;
    };
    if (resolved.softTimeoutMs !== undefined) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = Symbol('soft timeout');
      const soft = new Promise<typeof timedOut>((resolve) => {
        timer = setTimeout(() => resolve(timedOut), resolved.softTimeoutMs);
      });
      try {
        const first = await Promise.race([settled, soft]);
        if (first === timedOut) {
          // The factory goes on and stores its value when it finishes.
          settled.catch((error: unknown) =>
            core.settings.logger.warn(
              { key: full, err: error },
              `${PKG} background refresh failed`,
            ),
          );
          return fallback(`the factory took over ${resolved.softTimeoutMs} ms`);
        }
        return first as T;
      } catch (error) {
        return fallback('the factory failed', error);
      } finally {
        clearTimeout(timer);
      }
    }
    try {
      return await settled;
    } catch (error) {
      return fallback('the factory failed', error);
    }
  }

  /** Runs the factory once and encodes its value, its creation time taken before it ran. */
  async #produce<T>(job: FactoryJob<T>): Promise<Prepared> {
    const core = this.#core;
    const startedAt = core.tick();
    core.counters.factoryRuns++;
    const began = performance.now();
    let value: T;
    try {
      value = await job.factory({ key: job.key });
    } catch (error) {
      core.counters.factoryErrors++;
      throw error;
    } finally {
      core.counters.factoryMs += performance.now() - began;
    }
    return core.prepare(job.full, value, job.resolved, startedAt);
  }

  /** Runs the factory once and stores its value (unless superseded meanwhile). */
  async #run<T>(job: FactoryJob<T>, flight: Flight): Promise<T> {
    const core = this.#core;
    const prepared = await this.#produce(job);
    // A read asked for it (a refresh, by #produce alone, leaves it unread).
    prepared.entry.read = true;
    if (!flight.superseded && !core.closed) {
      // The caller does not wait for Redis: L1 has the value, L2 follows.
      void core.write([job.full], [prepared]);
    }
    return prepared.value as T;
  }

  #refresh<T>(
    key: string,
    full: string,
    factory: (context: FactoryContext) => T | Promise<T>,
    options: GetOrSetOptions | undefined,
  ): void {
    const core = this.#core;
    const resolved = core.resolve(options);
    void core
      .fly(full, resolved.tags, (flight, done) =>
        this.#run({ key, full, factory, resolved }, flight).finally(done),
      )
      .catch((error: unknown) =>
        core.settings.logger.warn({ key: full, err: error }, `${PKG} early refresh failed`),
      );
  }

  async getOrSetMany<T>(
    keys: readonly string[],
    factory: (missing: string[]) => Promise<BatchResult<T>>,
    options?: GetOrSetOptions,
  ): Promise<Array<T | undefined>> {
    const core = this.#core;
    core.checkOpen();
    if (typeof factory !== 'function')
      throw invalidArgument('getOrSetMany() needs a factory function');
    const resolved = core.resolve(options);
    const fulls = keys.map((key) => this.#key(key));
    const reads = await core.readMany(fulls);
    const out = new Array<T | undefined>(keys.length);
    const batch = this.#partitionReads(fulls, reads, out);
    if (batch === undefined) return out;
    if (batch.missing.length > 0) await this.#computeMissing(batch, factory, resolved);
    for (let index = 0; index < fulls.length; index++) {
      if ((reads[index] as Read).fresh !== undefined) continue;
      out[index] = (await batch.waits.get(fulls[index] as string)) as T | undefined;
    }
    return out;
  }

  /**
   * Puts the fresh reads in `out`. Every other key joins a flight already running or is
   * computed by this call; undefined when all were fresh.
   */
  #partitionReads<T>(
    fulls: readonly string[],
    reads: readonly Read[],
    out: Array<T | undefined>,
  ): Batch | undefined {
    const core = this.#core;
    let batch: Batch | undefined;
    for (let index = 0; index < fulls.length; index++) {
      const read = reads[index] as Read;
      if (read.fresh !== undefined) {
        out[index] = readValue(read.fresh) as T;
        continue;
      }
      batch ??= new Batch();
      const full = fulls[index] as string;
      if (batch.waits.has(full)) continue;
      const flight = core.flight(full);
      if (flight !== undefined) {
        core.counters.coalesced++;
        batch.waits.set(full, flight.promise);
        continue;
      }
      if (read.stale !== undefined) {
        batch.stale ??= new Map();
        batch.stale.set(full, read.stale);
      }
      batch.missing.push(full);
      batch.waits.set(full, PLACEHOLDER);
    }
    return batch;
  }

  /** Runs the factory once for the missing keys, each of which gets a flight others can join. */
  async #computeMissing<T>(
    batch: Batch,
    factory: (missing: string[]) => Promise<BatchResult<T>>,
    resolved: Resolved,
  ): Promise<void> {
    const core = this.#core;
    const settle = new Map<string, Settle>();
    batch.settle = settle;
    for (const full of batch.missing) {
      const promise = core.fly(
        full,
        resolved.tags,
        (flight, done) =>
          new Promise<unknown>((resolve, reject) =>
            settle.set(full, { resolve, reject, flight, done }),
          ),
      );
      // A rejection is handled below for this caller; other waiters see it too.
      promise.catch(() => undefined);
      batch.waits.set(full, promise);
    }
    const names = batch.missing.map((full) => full.slice(this.#prefix.length));
    batch.startedAt = core.tick();
    core.counters.factoryRuns++;
    const began = performance.now();
    let result: BatchResult<T>;
    try {
      result = await factory(names);
    } catch (error) {
      this.#failBatch(batch, error);
      return;
    } finally {
      core.counters.factoryMs += performance.now() - began;
    }
    try {
      this.#settleBatch(batch, result, resolved);
    } catch (error) {
      this.#failBatch(batch, error);
    }
  }

  /**
   * Settles each missing key with the factory's value (undefined, and nothing stored, for
   * a key it left out) and writes the values in one go.
   */
  #settleBatch<T>(batch: Batch, result: BatchResult<T>, resolved: Resolved): void {
    const core = this.#core;
    const keysToWrite: string[] = [];
    const prepared: Array<ReturnType<CacheTiers['prepare']>> = [];
    for (const full of batch.missing) {
      const handle = batch.settle?.get(full);
      if (handle === undefined) continue;
      const name = full.slice(this.#prefix.length);
      if (!hasValue(result, name)) {
        handle.resolve(undefined);
        handle.done();
        continue;
      }
      try {
        const one = core.prepare(full, valueIn(result, name), resolved, batch.startedAt);
        if (!handle.flight.superseded) {
          keysToWrite.push(full);
          prepared.push(one);
        }
        handle.resolve(one.value);
      } catch (error) {
        handle.reject(error);
      }
      handle.done();
    }
    if (keysToWrite.length > 0 && !core.closed) void core.write(keysToWrite, prepared);
  }

  /** The factory failed: each missing key gets its stale value when it has one, else the error. */
  #failBatch(batch: Batch, error: unknown): void {
    const core = this.#core;
    core.counters.factoryErrors++;
    for (const full of batch.missing) {
      const handle = batch.settle?.get(full);
      const old = batch.stale?.get(full);
      if (old !== undefined) {
        core.counters.staleHits++;
        handle?.resolve(readValue(old));
      } else handle?.reject(error);
      handle?.done();
    }
  }

  cached<A extends unknown[], R>(
    fn: (...args: A) => R | Promise<R>,
    options: CachedOptions<NoInfer<A>> = {},
  ): (...args: A) => Promise<Awaited<R>> {
    if (typeof fn !== 'function') throw invalidOptions('cached() needs a function');
    const { key, tags, ...rest } = options;
    if (key === undefined && fn.name === '') {
      throw invalidOptions('cached() needs options.key for an anonymous function');
    }
    if (key !== undefined && typeof key !== 'function')
      throw invalidOptions('cached() options.key must be a function');
    const keyOf = key ?? ((...args: A) => `${fn.name}:${JSON.stringify(args)}`);
    const view = this;
    return function cachedFunction(...args: A): Promise<Awaited<R>> {
      const callTags = typeof tags === 'function' ? tags(...args) : tags;
      return view.getOrSet<Awaited<R>>(
        keyOf(...args),
        () => fn(...args) as Awaited<R> | Promise<Awaited<R>>,
        callTags === undefined ? rest : { ...rest, tags: callTags },
      );
    };
  }

  async invalidateTags(tags: readonly string[]): Promise<void> {
    this.#core.checkOpen();
    checkTags(tags);
    await this.#core.invalidateTags([...new Set(tags)]);
  }

  async clear(name?: string): Promise<void> {
    this.#core.checkOpen();
    let prefix = this.#prefix;
    if (name !== undefined) {
      if (typeof name !== 'string' || !NAME.test(name))
        throw invalidArgument(`clear() takes a namespace name, got ${JSON.stringify(name)}`);
      prefix += `${name}:`;
    }
    await this.#core.clear(prefix);
  }

  namespace(name: string): Cache {
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw invalidArgument(
        `a namespace must be 1-64 letters, digits, '_', '.' or '-', got ${JSON.stringify(name)}`,
      );
    }
    return new CacheView(this.#core, `${this.#prefix}${name}:`);
  }

  status(): CacheStatus {
    return this.#core.status();
  }

  stats(): CacheStats {
    const c = this.#core.counters;
    return {
      hits: { l1: c.l1Hits, l2: c.l2Hits },
      misses: { l1: c.l1Misses, l2: c.l2Misses },
      staleHits: c.staleHits,
      factory: { runs: c.factoryRuns, errors: c.factoryErrors, seconds: c.factoryMs / 1000 },
      coalesced: c.coalesced,
      errors: c.errors,
      bus: { sent: c.busSent, received: c.busReceived },
      l1Flushes: c.l1Flushes,
    };
  }

  async health(): Promise<CacheHealth> {
    const core = this.#core;
    if (core.store === undefined) {
      return { ok: true, mode: 'memory', latencyMs: null, status: core.status() };
    }
    const latency = core.closed ? UNAVAILABLE : await core.store.ping();
    return {
      ok: latency !== UNAVAILABLE,
      mode: 'redis',
      latencyMs: latency === UNAVAILABLE ? null : Math.round(latency * 100) / 100,
      status: core.status(),
    };
  }

  ready(timeoutMs = 5_000): Promise<CacheStatus> {
    return this.#core.ready(timeoutMs);
  }

  close(): Promise<void> {
    return this.#core.close();
  }
}

/**
 * A two-level cache: an in-process LRU (L1) in front of Redis (L2), with tags, a pub/sub
 * bus that keeps every instance's L1 coherent, single-flight factories, grace periods and
 * graceful degradation (while Redis is away, calls are answered from L1 and factories; none
 * throws or waits longer than `commandTimeoutMs` for Redis).
 *
 * Values read from the cache are shared and deeply frozen when they are plain JSON, and a
 * fresh copy for values holding Date, Map, Set, BigInt, binary data or non-JSON numbers.
 *
 * @example
 * ```ts
 * import { createCache } from '@fairmind/cache';
 *
 * const cache = createCache({ redis: process.env.REDIS_URL, ttl: '10m', grace: '1h' });
 * const model = await cache.getOrSet(`model:${id}`, () => db.findModel(id), {
 *   tags: [`model:${id}`, 'models'],
 * });
 * await cache.invalidateTags(['models']); // after a write, on every instance
 * ```
 */
export function createCache(options: CacheOptions = {}): Cache {
  return new CacheView(new CacheTiers(options), '');
}
