import type { CircuitBreaker } from '@fairmind/core';
import { LRUCache } from 'lru-cache';

import { type Bus, type BusMessage, encodeMessage } from '../bus/index.js';
import type { CacheOptions, CacheStatus, GetOrSetOptions } from '../cache/index.js';
import { decode, deepFreeze, ENCODING_VERSION, encode } from '../codec/index.js';
import { toMs } from '../duration/index.js';
import { closedError, corrupt, invalidArgument, invalidOptions, PKG } from '../errors/index.js';
import { Memory, type MemoryEntry } from '../memory/index.js';
import { type CacheCounters, newCounters, registerMetrics } from '../metrics/index.js';
import { type RedisClient, type RedisStore, type StoreItem, UNAVAILABLE } from '../store/index.js';
import { connectRedis, redisClient } from './redis.js';
import {
  breakerLimits,
  fraction,
  memorySettings,
  resolveSettings,
  type Settings,
} from './settings.js';

/**
 * What every view of one cache shares: the two tiers, the tag clock, the single-flight
 * table, the bus and the writes kept while Redis is away. The public API is in ../cache;
 * keys here already carry their namespace path.
 */

export interface Resolved {
  ttlMs: number;
  graceMs: number;
  tags: readonly string[] | undefined;
  softTimeoutMs: number | undefined;
  earlyRefresh: number | undefined;
  refreshOnInvalidate: boolean;
}

/** A value encoded for both tiers by {@link CacheTiers.prepare}. */
export interface Prepared {
  entry: MemoryEntry;
  item: StoreItem;
  value: unknown;
}

/** A key stored with `refreshOnInvalidate`: its tags and how to compute it again. */
export interface Renewal {
  readonly tags: readonly string[];
  readonly run: () => Promise<Prepared>;
}

/** The value a key answers while its factory runs again after an invalidation. */
interface Held {
  entry: MemoryEntry;
  readonly tags: readonly string[];
  /** Past this (ms since the epoch) the value is no longer answered. */
  until: number;
  /** The run in progress; one more is queued at most, for invalidations that came during it. */
  running: Promise<void> | undefined;
  queued: Promise<void> | undefined;
}

/** A computation in progress for one key. */
export interface Flight {
  promise: Promise<unknown>;
  /** Set when the key was written, deleted or invalidated meanwhile: the result is not stored. */
  superseded: boolean;
  readonly tags: readonly string[] | undefined;
}

/** What a read of both tiers found for one key. */
export interface Read {
  fresh: MemoryEntry | undefined;
  /** An entry past its TTL but within its grace period. */
  stale: MemoryEntry | undefined;
  /** Redis is configured and could not be asked. */
  unavailable: boolean;
}

export const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
// Tags whose invalidation time this instance knows; more are fetched again from Redis.
const TAG_CLOCK_SIZE = 10_000;
// Invalidations remembered while Redis is away; past this, recovery clears the namespace.
const OUTBOX_LIMIT = 10_000;
// The step of the write clock within one millisecond (see CacheTiers#tick).
const CLOCK_TICK_MS = 2 ** -10;
// Keys remembered with their factory for refreshOnInvalidate; the oldest go first past this.
const RENEWALS_LIMIT = 1_024;
// The longest an invalidation waits for a refresh, and a previous value is answered meanwhile.
export const REFRESH_HOLD_MS = 10_000;

const sharesTag = (tags: readonly string[], with_: readonly string[]) =>
  tags.some((tag) => with_.includes(tag));

export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw invalidArgument(`a key must be a non-empty string, got ${JSON.stringify(key)}`);
  }
}

export function checkTags(tags: unknown): asserts tags is readonly string[] {
  if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string' && tag.length > 0)) {
    throw invalidArgument(
      `tags must be an array of non-empty strings, got ${JSON.stringify(tags)}`,
    );
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function redisState(client: RedisClient): CacheStatus['redis'] {
  switch (client.status) {
    case 'ready':
      return 'ready';
    case 'wait':
    case 'connecting':
    case 'connect':
      return 'connecting';
    default:
      return 'down';
  }
}

function identityRead(read: Read): Read {
  return read;
}

export function readValue(entry: MemoryEntry): unknown {
  return entry.tagged ? decode(entry.value, true) : entry.value;
}

/** A stored entry as Redis holds it: readable JSON with the value under `v`. */
export interface Envelope {
  v: unknown;
  /** Fresh until (ms since the epoch). */
  e: number;
  /** Kept for grace until; absent when equal to `e`. */
  s?: number;
  /** Created (the factory's start). */
  c: number;
  t?: string[];
  /** The tagged encoding's version; absent for plain JSON. */
  x?: number;
}

export function parseEnvelope(text: string): Envelope {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw corrupt('an L2 entry is not JSON');
  }
  const envelope = raw as Partial<Envelope> | null;
  if (
    typeof envelope !== 'object' ||
    envelope === null ||
    !('v' in envelope) ||
    typeof envelope.e !== 'number' ||
    typeof envelope.c !== 'number' ||
    (envelope.s !== undefined && typeof envelope.s !== 'number') ||
    (envelope.t !== undefined &&
      (!Array.isArray(envelope.t) || !envelope.t.every((tag) => typeof tag === 'string')))
  ) {
    throw corrupt('an L2 entry is not a cache envelope');
  }
  if (envelope.x !== undefined && envelope.x !== ENCODING_VERSION) {
    throw corrupt(
      `an L2 entry uses encoding version ${String(envelope.x)}; this version reads ${ENCODING_VERSION}: upgrade @fairmind/cache on every instance`,
    );
  }
  return envelope as Envelope;
}

/** The tiers every view of one cache shares: L1 memory, the L2 store, the bus, the clock. */
export class CacheTiers {
  readonly settings: Settings;
  readonly memory: Memory | undefined;
  readonly store: RedisStore | undefined;
  readonly bus: Bus | undefined;
  readonly breaker: CircuitBreaker | undefined;
  readonly counters: CacheCounters = newCounters();
  readonly #ownedClient: RedisClient | undefined;
  readonly #channel: string;
  // `<namespace>:v:`, built once: every L2 read and write prefixes its key with it.
  readonly #valuePrefix: string;
  // Tag -> the latest invalidation time known here (0: never invalidated).
  readonly #tagClock = new LRUCache<string, number>({
    max: TAG_CLOCK_SIZE,
    dispose: (_at, _tag, reason) => {
      if (reason === 'evict') this.#tagEvictions++;
    },
  });
  // Bumped whenever the tag clock forgets a tag, which voids every entry's trust.
  #tagEvictions = 0;
  readonly #inflight = new Map<string, Flight>();
  // Key -> how to compute it again, for the keys stored with refreshOnInvalidate.
  readonly #renewals = new Map<string, Renewal>();
  // Key -> the value it answers while it is computed again.
  readonly #held = new Map<string, Held>();
  readonly #outbox = {
    keys: new Set<string>(),
    tags: new Map<string, number>(),
    prefixes: new Set<string>(),
  };
  #replaying = false;
  // Items taken out of the outbox by a replay still running: pending until it ends.
  #inReplay = 0;
  #closed = false;
  #unregister: (() => void) | undefined;

  constructor(options: CacheOptions) {
    if (options === null || typeof options !== 'object') {
      throw invalidOptions('createCache() takes an options object');
    }
    const settings = resolveSettings(options);
    this.settings = settings;
    const name = options.name ?? 'default';
    if (typeof name !== 'string' || name === '')
      throw invalidOptions('name must be a non-empty string');
    const l1 = memorySettings(options.l1 ?? {});
    this.memory = l1 === undefined ? undefined : new Memory(l1);
    const limits = breakerLimits(options.breaker ?? {});
    this.#channel = `${settings.namespace}:bus`;
    this.#valuePrefix = `${settings.namespace}:v:`;

    const client = redisClient(options.redis, settings.instanceId);
    if (typeof options.redis === 'string') this.#ownedClient = client;
    if (client !== undefined) {
      const redis = connectRedis({
        client,
        settings,
        limits,
        counters: this.counters,
        channel: this.#channel,
        replay: () => void this.replay(),
        receive: (message) => this.#receive(message),
        flushLocal: () => this.flushLocal(),
      });
      this.breaker = redis.breaker;
      this.store = redis.store;
      this.bus = redis.bus;
    }
    if (options.registry) {
      this.#unregister = registerMetrics(options.registry, name, {
        counters: this.counters,
        degraded: () => this.degraded(),
        l1: () => ({ entries: this.memory?.entries ?? 0, bytes: this.memory?.bytes ?? 0 }),
      });
    }
    settings.logger.info(
      { mode: client ? 'redis' : 'memory', namespace: settings.namespace },
      client
        ? `${PKG} two-level cache: L1 in process, L2 in Redis`
        : `${PKG} memory-only cache (no Redis configured): L1 only, not shared between instances`,
    );
  }

  // ---- keys -------------------------------------------------------------------------------

  redisKey(key: string): string {
    return this.#valuePrefix + key;
  }

  tagKey(tag: string): string {
    // One {hash tag} for every tag key of the namespace: the invalidation script and the
    // MGET of tag times touch several of them, which a Cluster allows only within a slot.
    return `${this.settings.namespace}:t:{${this.settings.namespace}}:${tag}`;
  }

  checkOpen(): void {
    if (this.#closed) throw closedError();
  }

  degraded(): boolean {
    return this.store !== undefined && !this.store.healthy;
  }

  resolve(options: GetOrSetOptions | undefined): Resolved {
    const s = this.settings;
    if (options === undefined) {
      return {
        ttlMs: s.ttlMs,
        graceMs: s.graceMs,
        tags: undefined,
        softTimeoutMs: s.softTimeoutMs,
        earlyRefresh: s.earlyRefresh,
        refreshOnInvalidate: false,
      };
    }
    if (options.tags !== undefined) checkTags(options.tags);
    const refresh = options.refreshOnInvalidate;
    if (refresh !== undefined && typeof refresh !== 'boolean') {
      throw invalidArgument(
        `refreshOnInvalidate must be true or false, got ${JSON.stringify(refresh)}`,
      );
    }
    return {
      ttlMs: options.ttl === undefined ? s.ttlMs : toMs('ttl', options.ttl, 1),
      graceMs: options.grace === undefined ? s.graceMs : toMs('grace', options.grace),
      tags: options.tags === undefined || options.tags.length === 0 ? undefined : [...options.tags],
      softTimeoutMs:
        options.softTimeout === undefined
          ? s.softTimeoutMs
          : toMs('softTimeout', options.softTimeout, 1),
      earlyRefresh:
        options.earlyRefresh === undefined
          ? s.earlyRefresh
          : fraction('earlyRefresh', options.earlyRefresh, false),
      refreshOnInvalidate: refresh === true,
    };
  }

  // ---- the clock of writes and invalidations ---------------------------------------------

  /**
   * A hybrid logical clock, in milliseconds: the wall clock, but never the same value twice
   * and never behind a tag time this instance has learnt. An entry is hidden by an
   * invalidation at or after its creation, so a set in the same millisecond as the
   * invalidateTags before it must still come after it: it gets the next tick (2^-10 ms, exact
   * in a double at today's epoch). Learnt tag times pull the clock forward, so an entry
   * written after this instance heard of an invalidation (by the bus or Redis) is newer than
   * it even when this machine's clock is behind the invalidator's.
   */
  #clock = 0;

  /** The next time of the clock: for `createdAt` of new entries and for invalidations. */
  tick(): number {
    const wall = Date.now();
    this.#clock = wall > this.#clock ? wall : this.#clock + CLOCK_TICK_MS;
    return this.#clock;
  }

  // ---- tags -------------------------------------------------------------------------------

  /** True, false, or undefined when a tag's time is not known here. */
  tagsValid(
    tags: readonly string[] | undefined,
    createdAt: number,
    trust = -1,
  ): boolean | undefined {
    if (tags === undefined) return true;
    let known = true;
    for (const tag of tags) {
      let at = this.#tagClock.get(tag);
      // Without Redis this process is the only writer, so what it does not know never happened.
      // An entry made here while the bus was listening has seen every invalidation since its
      // creation, unless the tag clock has forgotten one since (see #tagEvictions).
      if (at === undefined && (this.store === undefined || trust === this.#tagEvictions)) at = 0;
      if (at === undefined) known = false;
      else if (at >= createdAt) return false;
    }
    return known ? true : undefined;
  }

  /** Fetches the times of the tags not known here; false when Redis could not be asked. */
  async learnTags(tags: Iterable<string>): Promise<boolean> {
    if (this.store === undefined) return true;
    const unknown = [...new Set(tags)].filter((tag) => this.#tagClock.get(tag) === undefined);
    if (unknown.length === 0) return true;
    const times = await this.store.tagTimes(unknown.map((tag) => this.tagKey(tag)));
    if (times === UNAVAILABLE) return false;
    unknown.forEach((tag, index) => {
      this.#noteTag(tag, times[index] ?? 0);
    });
    return true;
  }

  #noteTag(tag: string, at: number): void {
    const current = this.#tagClock.get(tag);
    if (current === undefined || current < at) this.#tagClock.set(tag, at);
    if (at > this.#clock) this.#clock = at;
  }

  // ---- reads ------------------------------------------------------------------------------

  /**
   * What L1 holds for `key` into `read`: true when L2 must be asked. Tags this instance
   * has not learnt yet go into `unknown` (when Redis can be asked to fill them in).
   */
  #readL1(key: string, read: Read, now: number, unknown: Set<string> | undefined): boolean {
    const entry = this.memory?.get(key);
    if (entry !== undefined) {
      const valid = this.tagsValid(entry.tags, entry.createdAt, entry.trust);
      if (valid === undefined && unknown !== undefined && this.store?.healthy) {
        for (const tag of entry.tags ?? []) unknown.add(tag);
      }
      if (valid === false) this.memory?.delete(key);
      else if (now < entry.expiresAt) read.fresh = entry;
      else if (now < entry.staleUntil) read.stale = entry;
      else this.memory?.delete(key);
    }
    if (read.fresh !== undefined) {
      this.counters.l1Hits++;
      return false;
    }
    this.counters.l1Misses++;
    return this.store !== undefined;
  }

  /** The envelope in an L2 text, or undefined (counted and logged) when unreadable. */
  #parse(key: string, text: string): Envelope | undefined {
    try {
      return parseEnvelope(text);
    } catch (error) {
      this.counters.errors++;
      this.settings.logger.warn({ err: error, key }, `${PKG} unreadable L2 entry ignored`);
      return undefined;
    }
  }

  /**
   * Takes an L2 entry into `read` (and L1) when its tags allow it. `envelope` is
   * `undefined` when the entry's tags cannot be checked: that hides the entry, better a
   * miss than a value invalidated elsewhere. `length` is the L2 text's.
   */
  #accept(key: string, read: Read, envelope: Envelope | undefined, length: number): void {
    if (envelope !== undefined && this.tagsValid(envelope.t, envelope.c) === true) {
      const now = Date.now();
      const entry = this.#entryFromEnvelope(key, envelope, length, now);
      if (now < envelope.e) {
        read.fresh = entry;
        this.memory?.set(key, entry);
      } else if (read.stale === undefined || read.stale.createdAt < entry.createdAt) {
        read.stale = entry;
      }
    }
    if (read.fresh !== undefined) this.counters.l2Hits++;
    else this.counters.l2Misses++;
  }

  #hasUnknownTags(tags: readonly string[] | undefined): boolean {
    return tags?.some((tag) => this.#tagClock.get(tag) === undefined) === true;
  }

  /** Both tiers for one key: the hot path of get and getOrSet misses, one GET at most. */
  readOne(key: string): Promise<Read> {
    return this.readOneThen(key, identityRead);
  }

  /**
   * {@link CacheTiers.readOne} with `then` applied to the read in the same promise step as the
   * Redis reply (no `.then` of the caller's on every L2 read).
   */
  readOneThen<R>(key: string, then: (read: Read) => R): Promise<R> {
    const read: Read = { fresh: undefined, stale: undefined, unavailable: false };
    const entry = this.memory?.get(key);
    // L1 entries with tags this instance has not learnt yet take the general path.
    if (
      entry?.tags !== undefined &&
      this.tagsValid(entry.tags, entry.createdAt, entry.trust) === undefined
    ) {
      return this.readMany([key]).then((reads) => then(reads[0] as Read));
    }
    if (!this.#readL1(key, read, Date.now(), undefined) || this.store === undefined) {
      return new Promise<R>((resolve) => resolve(then(read)));
    }
    return this.store.getThen(this.redisKey(key), (text) => {
      if (text === UNAVAILABLE) {
        read.unavailable = true;
        return then(read);
      }
      const envelope = text === null ? undefined : this.#parse(key, text);
      if (envelope === undefined) {
        this.counters.l2Misses++;
        return then(read);
      }
      const length = (text as string).length;
      if (!this.#hasUnknownTags(envelope.t)) {
        this.#accept(key, read, envelope, length);
        return then(read);
      }
      return this.learnTags(envelope.t as string[]).then((known) => {
        this.#accept(key, read, known ? envelope : undefined, length);
        return then(read);
      });
    });
  }

  /** Both tiers for several keys: L1 first, then one Redis round trip for the rest. */
  async readMany(keys: readonly string[]): Promise<Read[]> {
    const now = Date.now();
    const reads: Read[] = new Array(keys.length);
    const l2: number[] = [];
    const unknownTags = new Set<string>();
    for (let index = 0; index < keys.length; index++) {
      const read: Read = { fresh: undefined, stale: undefined, unavailable: false };
      reads[index] = read;
      if (this.#readL1(keys[index] as string, read, now, unknownTags)) l2.push(index);
    }
    // L1 entries whose tags this instance has not seen yet (read from L2 by another path).
    if (unknownTags.size > 0 && (await this.learnTags(unknownTags))) {
      for (let index = 0; index < keys.length; index++) {
        const read = reads[index] as Read;
        const entry = read.fresh;
        if (
          entry === undefined ||
          this.tagsValid(entry.tags, entry.createdAt, entry.trust) !== false
        ) {
          continue;
        }
        read.fresh = undefined;
        this.memory?.delete(keys[index] as string);
        this.counters.l1Hits--;
        this.counters.l1Misses++;
        if (this.store !== undefined) l2.push(index);
      }
    }
    if (l2.length === 0 || this.store === undefined) return reads;

    const texts = await this.store.mget(l2.map((index) => this.redisKey(keys[index] as string)));
    if (texts === UNAVAILABLE) {
      for (const index of l2) (reads[index] as Read).unavailable = true;
      return reads;
    }
    const found: Array<[number, Envelope, number]> = [];
    const tags = new Set<string>();
    texts.forEach((text, at) => {
      const index = l2[at] as number;
      const envelope = text === null ? undefined : this.#parse(keys[index] as string, text);
      if (envelope === undefined) {
        this.counters.l2Misses++;
        return;
      }
      found.push([index, envelope, (text as string).length]);
      for (const tag of envelope.t ?? []) tags.add(tag);
    });
    const tagsKnown = tags.size === 0 || (await this.learnTags(tags));
    for (const [index, envelope, length] of found) {
      const checked = tagsKnown ? envelope : undefined;
      this.#accept(keys[index] as string, reads[index] as Read, checked, length);
    }
    return reads;
  }

  #entryFromEnvelope(key: string, envelope: Envelope, length: number, now: number): MemoryEntry {
    const tagged = envelope.x !== undefined;
    // JSON.parse made a fresh tree: freezing it cannot touch anyone else's object. Without
    // an L1 nobody else gets this tree, so it is handed over as it is.
    const value = tagged || this.memory === undefined ? envelope.v : deepFreeze(envelope.v);
    // The stored text's length (metadata included) is close enough for a byte budget.
    const size = Memory.sizeOf(key, length);
    return {
      value,
      tagged,
      createdAt: envelope.c,
      // An L1 copy never outlives the L2 entry it came from.
      expiresAt: Math.min(envelope.e, now + this.settings.l1TtlMs),
      staleUntil: envelope.s ?? envelope.e,
      tags: envelope.t,
      trust: -1,
      size,
      read: false,
    };
  }

  // ---- writes -----------------------------------------------------------------------------

  /** Encodes a value into its L1 entry and L2 item; throws before anything is written. */
  prepare(key: string, value: unknown, options: Resolved, createdAt: number): Prepared {
    const { node, tagged } = encode(value);
    const json = JSON.stringify(node);
    const now = Date.now();
    const ttl = Math.max(1, Math.round(options.ttlMs * (1 - Math.random() * this.settings.jitter)));
    const expiresAt = now + ttl;
    const staleUntil = expiresAt + options.graceMs;
    const tags = options.tags;
    let text = `{"v":${json},"e":${expiresAt}`;
    if (staleUntil !== expiresAt) text += `,"s":${staleUntil}`;
    text += `,"c":${createdAt}`;
    if (tags !== undefined) text += `,"t":${JSON.stringify(tags)}`;
    if (tagged) text += `,"x":${ENCODING_VERSION}`;
    text += '}';
    const stored = tagged ? node : deepFreeze(JSON.parse(json));
    const entry: MemoryEntry = {
      value: stored,
      tagged,
      createdAt,
      expiresAt: Math.min(expiresAt, now + this.settings.l1TtlMs),
      staleUntil,
      tags,
      trust: this.bus?.state === 'subscribed' ? this.#tagEvictions : -1,
      size: Memory.sizeOf(key, json.length),
      read: false,
    };
    let px = staleUntil - now;
    if (tags !== undefined) px = Math.min(px, this.settings.tagRetentionMs);
    return { entry, item: { key: this.redisKey(key), text, px }, value: readValue(entry) };
  }

  /**
   * Puts prepared entries in L1 and writes them to L2 with one bus message. A value held
   * during a refresh (see {@link held}) gives way to it, and that refresh stores nothing.
   */
  write(
    keys: readonly string[],
    prepared: ReadonlyArray<{ entry: MemoryEntry; item: StoreItem }>,
  ): Promise<void> {
    if (this.#held.size > 0) for (const key of keys) this.#held.delete(key);
    return this.#put(keys, prepared);
  }

  async #put(
    keys: readonly string[],
    prepared: ReadonlyArray<{ entry: MemoryEntry; item: StoreItem }>,
  ): Promise<void> {
    if (keys.length === 0) return;
    for (let index = 0; index < keys.length; index++) {
      const key = keys[index] as string;
      this.supersede(key);
      this.memory?.set(key, (prepared[index] as { entry: MemoryEntry }).entry);
    }
    if (this.store === undefined) return;
    const message = encodeMessage(this.settings.instanceId, { kind: 'keys', keys });
    const items = prepared.map((one) => one.item);
    const written =
      items.length === 1
        ? await this.store.set(items[0] as StoreItem, this.#channel, message)
        : await this.store.setMany(items, this.#channel, message);
    this.#sent(written, 'keys', keys);
  }

  async remove(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      this.supersede(key);
      this.memory?.delete(key);
      this.#held.delete(key);
    }
    if (this.store !== undefined && keys.length > 0) await this.#sendKeys(keys);
  }

  /** Counts a bus message sent with a write, or keeps the write for replay when it failed. */
  #sent(done: boolean, kind: 'keys' | 'tags' | 'clear', items: readonly string[], at = 0): void {
    if (done) this.counters.busSent++;
    else this.#remember(kind, items, at);
  }

  /** UNLINKs keys in L2 and tells the other instances. */
  async #sendKeys(keys: readonly string[]): Promise<void> {
    const message = encodeMessage(this.settings.instanceId, { kind: 'keys', keys });
    const redisKeys = keys.map((key) => this.redisKey(key));
    const done = await (this.store as RedisStore).unlink(redisKeys, this.#channel, message);
    this.#sent(done, 'keys', keys);
  }

  /** Moves the tags' times in Redis to `at` and tells the other instances. */
  async #sendTags(tags: readonly string[], at: number): Promise<void> {
    const message = encodeMessage(this.settings.instanceId, { kind: 'tags', tags, at });
    const done = await (this.store as RedisStore).invalidateTags({
      tagKeys: tags.map((tag) => this.tagKey(tag)),
      at,
      retentionMs: this.settings.tagRetentionMs,
      channel: this.#channel,
      message,
    });
    this.#sent(done, 'tags', tags, at);
  }

  /** Deletes the L2 entries under `prefix` ('' for all) and tells the other instances. */
  async #sendClear(prefix: string): Promise<void> {
    const message = encodeMessage(this.settings.instanceId, { kind: 'clear', prefix });
    const pattern = `${escapeGlob(this.redisKey(prefix))}*`;
    const done = await (this.store as RedisStore).clear(pattern, this.#channel, message);
    this.#sent(done, 'clear', [prefix]);
  }

  /**
   * Hides the tags' entries here and on every instance. Entries of this instance stored with
   * `refreshOnInvalidate` are computed again before this resolves, their previous value
   * answered meanwhile (see {@link held}).
   */
  async invalidateTags(tags: readonly string[]): Promise<void> {
    const renewing = this.#renewable(tags);
    const at = this.tick();
    for (const tag of tags) this.#noteTag(tag, at);
    this.#supersedeTagged(tags);
    const sent = this.store !== undefined && tags.length > 0 ? this.#sendTags(tags, at) : undefined;
    if (renewing.length === 0) return sent;
    // The refreshes start after the tag time, so what they store is newer than it.
    await Promise.all([
      sent,
      ...renewing.map(([key, entry, renewal]) => this.#renew(key, entry, renewal)),
    ]);
  }

  async clear(prefix: string): Promise<void> {
    this.memory?.clear(prefix);
    this.#supersedeWhere((key) => key.startsWith(prefix));
    this.#release((key) => key.startsWith(prefix));
    if (this.store !== undefined) await this.#sendClear(prefix);
  }

  // ---- refresh on invalidation ------------------------------------------------------------

  /** Remembers how to compute `key` again when one of its tags is invalidated here. */
  renewable(key: string, renewal: Renewal): void {
    this.#renewals.delete(key);
    this.#renewals.set(key, renewal);
    if (this.#renewals.size > RENEWALS_LIMIT) {
      this.#renewals.delete(this.#renewals.keys().next().value as string);
    }
  }

  /**
   * The value `key` answers while an invalidation of this instance computes it again: the
   * last one stored before it. A read that comes during the refresh is concurrent with the
   * write that invalidated (that write has not been answered yet), so it may see either side.
   */
  held(key: string): MemoryEntry | undefined {
    const held = this.#held.get(key);
    if (held === undefined) return undefined;
    if (Date.now() < held.until) return held.entry;
    this.#held.delete(key);
    return undefined;
  }

  /** The keys to refresh for an invalidation of `tags`, with the entry each answers meanwhile. */
  #renewable(tags: readonly string[]): Array<[string, MemoryEntry, Renewal]> {
    const found: Array<[string, MemoryEntry, Renewal]> = [];
    if (this.#renewals.size === 0) return found;
    const now = Date.now();
    for (const [key, renewal] of this.#renewals) {
      if (!sharesTag(renewal.tags, tags)) continue;
      // One already being refreshed keeps answering what it answers; otherwise only a value
      // still fresh and valid before this invalidation may be answered during the refresh,
      // and only one read since it was stored: a page nobody reads is left to drop.
      const held = this.held(key);
      if (held !== undefined) {
        found.push([key, held, renewal]);
        continue;
      }
      const entry = this.memory?.get(key);
      if (
        entry?.read === true &&
        now < entry.expiresAt &&
        this.tagsValid(entry.tags, entry.createdAt, entry.trust) === true
      ) {
        found.push([key, entry, renewal]);
      }
    }
    return found;
  }

  /**
   * Computes `key` again after an invalidation, at most one run at a time and one more queued
   * for the invalidations that come during it (the queued run starts after them, so it sees
   * their writes). Never rejects: a failed or slow refresh stops answering the old value, and
   * the next read loads the key as after any invalidation.
   */
  #renew(key: string, entry: MemoryEntry, renewal: Renewal): Promise<void> {
    let held = this.#held.get(key);
    if (held === undefined) {
      held = { entry, tags: renewal.tags, until: 0, running: undefined, queued: undefined };
      this.#held.set(key, held);
    }
    held.until = Date.now() + REFRESH_HOLD_MS;
    const one = held;
    let wait: Promise<void>;
    if (one.queued !== undefined) wait = one.queued;
    else if (one.running === undefined) wait = one.running = this.#renewOnce(key, one, renewal);
    else {
      wait = one.queued = one.running.then(() => {
        one.queued = undefined;
        one.running = this.#renewOnce(key, one, renewal);
        return one.running;
      });
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        if (this.#held.get(key) === one) this.#held.delete(key);
        this.settings.logger.warn(
          { key, ms: REFRESH_HOLD_MS },
          `${PKG} a refresh after invalidateTags took over ${REFRESH_HOLD_MS} ms: the next read loads the key`,
        );
        resolve();
      }, REFRESH_HOLD_MS);
      // A refresh stuck at shutdown must not hold the process up for its deadline.
      timer.unref?.();
    });
    return Promise.race([wait, late]).finally(() => clearTimeout(timer));
  }

  async #renewOnce(key: string, held: Held, renewal: Renewal): Promise<void> {
    try {
      const prepared = await renewal.run();
      // A write, delete or clear of the key meanwhile released it: what it stored stays.
      if (this.#closed || this.#held.get(key) !== held) return;
      held.entry = prepared.entry;
      await this.#put([key], [prepared]);
    } catch (error) {
      if (this.#held.get(key) === held) this.#held.delete(key);
      this.settings.logger.warn(
        { key, err: error },
        `${PKG} a refresh after invalidateTags failed: the next read loads the key`,
      );
    } finally {
      held.running = undefined;
      if (held.queued === undefined && this.#held.get(key) === held) this.#held.delete(key);
    }
  }

  /** Stops answering held values that a delete, a clear or another instance's write voids. */
  #release(test: (key: string, held: Held) => boolean): void {
    for (const [key, held] of this.#held) if (test(key, held)) this.#held.delete(key);
  }

  supersede(key: string): void {
    const flight = this.#inflight.get(key);
    if (flight !== undefined) this.#retire(key, flight);
  }

  /**
   * Marks the loads in flight that a write has made out of date, so they store nothing, and
   * takes them out of the single-flight map: a read that starts after the write must start a
   * load of its own, not wait for one that began before the write and return what that read.
   * Callers already waiting keep their load's value; they started before the write.
   */
  #retire(key: string, flight: Flight): void {
    flight.superseded = true;
    this.#inflight.delete(key);
  }

  #supersedeWhere(test: (key: string, flight: Flight) => boolean): void {
    for (const [key, flight] of this.#inflight) if (test(key, flight)) this.#retire(key, flight);
  }

  #supersedeTagged(tags: readonly string[]): void {
    this.#supersedeWhere(
      (_key, flight) => flight.tags !== undefined && sharesTag(flight.tags, tags),
    );
  }

  // ---- single flight ----------------------------------------------------------------------

  flight(key: string): Flight | undefined {
    return this.#inflight.get(key);
  }

  /** Registers a computation for `key`; `start` runs at once and must call `done` when settled. */
  fly<T>(
    key: string,
    tags: readonly string[] | undefined,
    start: (flight: Flight, done: () => void) => Promise<T>,
  ): Promise<T> {
    const flight: Flight = { promise: Promise.resolve(), superseded: false, tags };
    this.#inflight.set(key, flight);
    const done = () => {
      if (this.#inflight.get(key) === flight) this.#inflight.delete(key);
    };
    const promise = start(flight, done);
    flight.promise = promise;
    return promise;
  }

  // ---- bus and recovery -------------------------------------------------------------------

  #receive(message: BusMessage): void {
    this.counters.busReceived++;
    switch (message.kind) {
      case 'keys':
        for (const key of message.keys) {
          this.memory?.delete(key);
          this.supersede(key);
          this.#held.delete(key);
        }
        return;
      case 'tags':
        for (const tag of message.tags) this.#noteTag(tag, message.at);
        this.#supersedeTagged(message.tags);
        // Another instance's write, answered once its invalidation was sent: no older value.
        this.#release((_key, held) => sharesTag(held.tags, message.tags));
        return;
      case 'clear':
        this.memory?.clear(message.prefix);
        this.#supersedeWhere((key) => key.startsWith(message.prefix));
        this.#release((key) => key.startsWith(message.prefix));
        return;
    }
  }

  /** Forgets everything local: messages may have been lost while the bus was away. */
  flushLocal(): void {
    this.memory?.clear();
    this.#held.clear();
    this.#tagClock.clear();
    this.#tagEvictions++;
    this.#supersedeWhere(() => true);
    this.counters.l1Flushes++;
  }

  #remember(kind: 'keys' | 'tags' | 'clear', items: readonly string[], at = 0): void {
    const outbox = this.#outbox;
    if (kind === 'keys') for (const key of items) outbox.keys.add(key);
    else if (kind === 'tags')
      for (const tag of items) outbox.tags.set(tag, Math.max(at, outbox.tags.get(tag) ?? 0));
    else for (const prefix of items) outbox.prefixes.add(prefix);
    if (outbox.keys.size + outbox.tags.size > OUTBOX_LIMIT) {
      // Too much to replay one by one: clearing the whole namespace loses nothing that matters.
      outbox.keys.clear();
      outbox.prefixes.add('');
    }
    this.settings.logger.debug(
      { kind, count: items.length },
      `${PKG} Redis away: write kept for replay`,
    );
  }

  get pending(): number {
    const outbox = this.#outbox;
    return outbox.keys.size + outbox.tags.size + outbox.prefixes.size + this.#inReplay;
  }

  /**
   * Once Redis is back, deletes the keys written while it was away (their L2 copy is older
   * than what this instance served), re-applies tag invalidations and clears, and tells the
   * other instances. What fails stays for the next recovery.
   */
  async replay(): Promise<void> {
    if (this.#replaying || this.pending === 0 || this.store === undefined || this.#closed) return;
    this.#replaying = true;
    try {
      const { keys, tags, prefixes } = this.#outbox;
      const keyList = [...keys];
      const tagList = [...tags];
      const prefixList = [...prefixes];
      keys.clear();
      tags.clear();
      prefixes.clear();
      this.#inReplay = keyList.length + tagList.length + prefixList.length;
      // Each sender keeps what fails for the next recovery.
      if (prefixList.includes('')) {
        // A full clear covers every key and prefix.
        await this.#sendClear('');
      } else {
        for (const prefix of prefixList) await this.#sendClear(prefix);
        for (let start = 0; start < keyList.length; start += 1_000) {
          await this.#sendKeys(keyList.slice(start, start + 1_000));
        }
      }
      if (tagList.length > 0) {
        // One time for all of them: hiding a little more than needed is safe.
        const at = Math.max(...tagList.map(([, time]) => time));
        await this.#sendTags(
          tagList.map(([tag]) => tag),
          at,
        );
      }
      this.settings.logger.info(
        { keys: keyList.length, tags: tagList.length, clears: prefixList.length },
        `${PKG} replayed the invalidations made while Redis was away`,
      );
    } finally {
      this.#replaying = false;
      this.#inReplay = 0;
    }
  }

  status(): CacheStatus {
    const store = this.store;
    return {
      mode: store ? 'redis' : 'memory',
      redis: store ? redisState(store.client) : 'none',
      circuit: this.breaker?.state ?? 'closed',
      bus: this.bus?.state ?? 'off',
      degraded: this.degraded(),
      l1: {
        enabled: this.memory !== undefined,
        entries: this.memory?.entries ?? 0,
        bytes: this.memory?.bytes ?? 0,
        maxEntries: this.memory?.maxEntries ?? 0,
        maxBytes: this.memory?.maxBytes ?? 0,
      },
      pendingInvalidations: this.pending,
    };
  }

  async ready(timeoutMs: number): Promise<CacheStatus> {
    const deadline = Date.now() + timeoutMs;
    if (this.store !== undefined) {
      while (!this.store.connected && !this.#closed && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await this.bus?.ready(Math.max(0, deadline - Date.now()));
    }
    return this.status();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unregister?.();
    await this.bus?.close();
    this.store?.detach();
    const owned = this.#ownedClient;
    if (owned !== undefined) {
      // QUIT waits for replies to commands in flight; a dead server would make it hang.
      await Promise.race([
        owned.quit().catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, this.settings.commandTimeoutMs)),
      ]);
      owned.disconnect();
    }
    this.memory?.clear();
  }

  get closed(): boolean {
    return this.#closed;
  }
}
