import { createHash } from 'node:crypto';
import type { CircuitBreaker, Logger } from '@fairmind/core';
import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';
import { PKG } from '../errors/index.js';

/** An ioredis client: a single server (`Redis`) or a `Cluster`. */
export type RedisClient = Redis | Cluster;

/** What a store call returns when Redis could not be asked: down, too slow, or circuit open. */
export const UNAVAILABLE = Symbol('unavailable');
export type Unavailable = typeof UNAVAILABLE;

/** One entry for {@link RedisStore.setMany}. */
export interface StoreItem {
  readonly key: string;
  readonly text: string;
  /** Lifetime in Redis, in ms. */
  readonly px: number;
}

/** Settings of {@link RedisStore}, resolved by the cache. */
export interface StoreSettings {
  client: RedisClient;
  commandTimeoutMs: number;
  breaker: CircuitBreaker;
  logger: Logger;
  /** Counts a failed command; `operation` is the store method. */
  onError: (operation: string, error: unknown) => void;
  /** Called when the connection becomes ready again after a loss (and on the first ready). */
  onReady: () => void;
}

class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

// Writes several entries with their own PX and publishes the bus message in the same
// command, so setMany costs one round trip. KEYS share a slot (grouped by the caller on a
// Cluster). ARGV: channel ('' for none), message, then text and px per key.
const SET_MANY = new Script(`
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2 * i + 1], 'PX', ARGV[2 * i + 2])
end
if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return #KEYS
`);

// Moves each tag's invalidation time forward (never back: two instances may race) and keeps
// it for the retention period. Tag keys share one {hash tag}, so this works on a Cluster.
// ARGV: channel, message, time, retention ms.
const INVALIDATE_TAGS = new Script(`
local at = tonumber(ARGV[3])
for i = 1, #KEYS do
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  if current < at then
    redis.call('SET', KEYS[i], ARGV[3], 'PX', ARGV[4])
  else
    redis.call('PEXPIRE', KEYS[i], ARGV[4])
  end
end
if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return #KEYS
`);

const SCAN_COUNT = 500;
// 100,000 rounds of 500 is 50 million keys per node; past that the loop is broken, not busy.
const MAX_SCAN_ROUNDS = 100_000;

interface Pending {
  readonly deadline: number;
  readonly reject: (error: unknown) => void;
  settled: boolean;
}

class CommandTimeout extends Error {
  constructor(ms: number) {
    super(`${PKG} Redis did not answer within ${ms} ms`);
  }
}

function identity<T>(value: T): T {
  return value;
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/** One call of {@link RedisStore.invalidateTags}. */
export interface TagInvalidation {
  /** The Redis keys of the tags' invalidation times. */
  readonly tagKeys: readonly string[];
  /** The tags' new invalidation time, on the cache's clock. */
  readonly at: number;
  /** How long a tag's time is kept, in ms. */
  readonly retentionMs: number;
  /** The bus channel the message goes to. */
  readonly channel: string;
  /** The bus message published with the change. */
  readonly message: string;
}

/**
 * The L2 tier: every Redis command the cache sends, each under a deadline and behind the
 * circuit breaker. Nothing here throws or waits longer than the command timeout: a call
 * that cannot be answered returns {@link UNAVAILABLE} (reads) or `false` (writes), and the
 * cache serves from L1 and factories instead.
 */
export class RedisStore {
  readonly #client: RedisClient;
  readonly #settings: StoreSettings;
  readonly #cluster: boolean;
  readonly #listeners: Array<[string, (...args: unknown[]) => void]> = [];
  readonly #deadlines: Pending[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(settings: StoreSettings) {
    this.#settings = settings;
    this.#client = settings.client;
    this.#cluster = (settings.client as { isCluster?: boolean }).isCluster === true;
    this.#listen('ready', () => {
      settings.breaker.reset();
      settings.onReady();
    });
  }

  #listen(event: string, listener: (...args: unknown[]) => void): void {
    this.#client.on(event, listener);
    this.#listeners.push([event, listener]);
  }

  /** Removes the listeners this store put on the client. */
  detach(): void {
    for (const [event, listener] of this.#listeners) this.#client.off(event, listener);
    this.#listeners.length = 0;
  }

  get client(): RedisClient {
    return this.#client;
  }

  get isCluster(): boolean {
    return this.#cluster;
  }

  /** The connection is up (commands would be sent). */
  get connected(): boolean {
    return this.#client.status === 'ready';
  }

  /** Connected and the circuit is closed. */
  get healthy(): boolean {
    return this.connected && this.#settings.breaker.state === 'closed';
  }

  /**
   * `promise`, or a rejection once the command timeout has passed. Every command has the
   * same timeout, so deadlines fall in the order commands are sent: one timer for the
   * oldest pending deadline serves them all, instead of a setTimeout per command (which
   * costs more than the rest of a GET's client-side work).
   */
  #timed<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#watch(promise, resolve, reject);
    });
  }

  /** Settles through `resolve`/`reject` with `promise`, or rejects at the deadline. */
  #watch<T>(
    promise: Promise<T>,
    resolve: (value: T) => void,
    reject: (error: unknown) => void,
  ): void {
    const pending: Pending = {
      deadline: performance.now() + this.#settings.commandTimeoutMs,
      reject,
      settled: false,
    };
    this.#deadlines.push(pending);
    if (this.#timer === undefined) this.#arm();
    promise.then(
      (value) => {
        if (pending.settled) return;
        pending.settled = true;
        this.#release();
        resolve(value);
      },
      (error: unknown) => {
        if (pending.settled) return;
        pending.settled = true;
        this.#release();
        reject(error);
      },
    );
  }

  /**
   * Drops the settled commands at the head of the queue. Replies on a connection come in the
   * order commands were sent, so this usually empties it: without it, a second's worth of
   * settled commands (and the callbacks they hold) stayed reachable until the timer fired,
   * which at 100k reads a second is garbage the collector must promote and then sweep.
   */
  #release(): void {
    const queue = this.#deadlines;
    let head = this.#head;
    while (head < queue.length && (queue[head] as Pending).settled) head++;
    if (head === queue.length) {
      queue.length = 0;
      this.#head = 0;
    } else if (head > 1_024) {
      queue.splice(0, head);
      this.#head = 0;
    } else {
      this.#head = head;
    }
  }

  #arm(): void {
    this.#release();
    const next = this.#deadlines[this.#head];
    if (next === undefined) {
      this.#timer = undefined;
      return;
    }
    const wait = Math.max(0, next.deadline - performance.now());
    this.#timer = setTimeout(() => this.#expire(), Math.ceil(wait));
    this.#timer.unref?.();
  }

  #expire(): void {
    const queue = this.#deadlines;
    const now = performance.now();
    while (this.#head < queue.length) {
      const pending = queue[this.#head] as Pending;
      if (!pending.settled && pending.deadline > now) break;
      if (!pending.settled) {
        pending.settled = true;
        pending.reject(new CommandTimeout(this.#settings.commandTimeoutMs));
      }
      this.#head++;
    }
    // #arm() drops the settled prefix (see #release).
    this.#arm();
  }

  /**
   * Runs one operation if Redis may be asked, under the deadline, and reports the outcome
   * to the breaker. Returns {@link UNAVAILABLE} instead of throwing.
   */
  #run<T>(
    operation: string,
    work: (client: RedisClient) => Promise<T>,
    deadline = true,
  ): Promise<T | Unavailable> {
    return this.#call(operation, work, identity, deadline);
  }

  /**
   * {@link RedisStore.#run} with `then` applied to the outcome (the value or
   * {@link UNAVAILABLE}) in the same promise step: the L2 read path maps the reply into its
   * answer without a `.then` of its own, because every promise hop shows against a loopback
   * GET. What `then` throws rejects the returned promise.
   */
  #call<T, R>(
    operation: string,
    work: (client: RedisClient) => Promise<T>,
    then: (outcome: T | Unavailable) => R | PromiseLike<R>,
    deadline: boolean,
  ): Promise<R> {
    // Not connected: ioredis would fail at once (offline queue off) or queue the command
    // (a user's client with the queue on); either way nothing can be learnt by sending it.
    if (this.#client.status !== 'ready' || !this.#settings.breaker.allow()) {
      return new Promise<R>((resolve) => resolve(then(UNAVAILABLE)));
    }
    let promise: Promise<T>;
    try {
      promise = work(this.#client);
    } catch (error) {
      promise = Promise.reject(error);
    }
    if (!deadline) {
      return promise.then(
        (value) => then(this.#succeeded(value)),
        (error: unknown) => then(this.#failed(operation, error)),
      );
    }
    // One promise per command, settled by the reply or the deadline, with the breaker told
    // and the outcome mapped in the same step.
    return new Promise<R>((resolve, reject) => {
      const settle = (outcome: T | Unavailable): void => {
        try {
          resolve(then(outcome));
        } catch (error) {
          reject(error);
        }
      };
      this.#watch(
        promise,
        (value) => settle(this.#succeeded(value)),
        (error) => settle(this.#failed(operation, error)),
      );
    });
  }

  readonly #succeeded = <T>(value: T): T => {
    this.#settings.breaker.success();
    return value;
  };

  #failed(operation: string, error: unknown): Unavailable {
    this.#settings.breaker.failure();
    this.#settings.onError(operation, error);
    this.#settings.logger.debug({ err: error, operation }, `${PKG} Redis ${operation} failed`);
    return UNAVAILABLE;
  }

  get(key: string): Promise<string | null | Unavailable> {
    return this.#run('get', (client) => client.get(key));
  }

  /** {@link RedisStore.get} with `then` applied to the text (or UNAVAILABLE) in the same step. */
  getThen<R>(
    key: string,
    then: (text: string | null | Unavailable) => R | PromiseLike<R>,
  ): Promise<R> {
    return this.#call('get', (client) => client.get(key), then, true);
  }

  /** Values of several keys in one MGET (one per slot on a Cluster, sent together). */
  mget(keys: readonly string[]): Promise<Array<string | null> | Unavailable> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.#run('mget', async (client) => {
      if (!this.#cluster) return client.mget(...keys);
      const out = new Array<string | null>(keys.length);
      await Promise.all(
        [...groupBySlot(keys).values()].map(async (indexes) => {
          const values = await client.mget(...indexes.map((index) => keys[index] as string));
          indexes.forEach((index, at) => {
            out[index] = values[at] ?? null;
          });
        }),
      );
      return out;
    });
  }

  /** SET with PX, and the bus message published right behind it. */
  async set(item: StoreItem, channel: string, message: string): Promise<boolean> {
    const result = await this.#run('set', (client) =>
      Promise.all([
        client.set(item.key, item.text, 'PX', item.px),
        channel === '' ? undefined : client.publish(channel, message),
      ]),
    );
    return result !== UNAVAILABLE;
  }

  /** Several SETs and the bus message as one script call (one per slot on a Cluster). */
  async setMany(items: readonly StoreItem[], channel: string, message: string): Promise<boolean> {
    if (items.length === 0) return true;
    const result = await this.#run('setMany', async (client) => {
      const groups = this.#cluster
        ? [...groupBySlot(items.map((item) => item.key)).values()]
        : [items.map((_, index) => index)];
      await Promise.all(
        groups.map((indexes, group) => {
          const keys = indexes.map((index) => (items[index] as StoreItem).key);
          const args: Array<string | number> = group === 0 ? [channel, message] : ['', ''];
          for (const index of indexes) {
            const item = items[index] as StoreItem;
            args.push(item.text, item.px);
          }
          return this.#eval(client, SET_MANY, keys, args);
        }),
      );
    });
    return result !== UNAVAILABLE;
  }

  /** UNLINK several keys (per slot on a Cluster) and publish the bus message. */
  async unlink(keys: readonly string[], channel: string, message: string): Promise<boolean> {
    const result = await this.#run('delete', (client) => {
      const groups = this.#cluster ? [...groupBySlot(keys).values()] : [keys.map((_, i) => i)];
      return Promise.all([
        ...groups.map((indexes) =>
          indexes.length === 0
            ? 0
            : client.unlink(...indexes.map((index) => keys[index] as string)),
        ),
        channel === '' ? undefined : client.publish(channel, message),
      ]);
    });
    return result !== UNAVAILABLE;
  }

  /** The invalidation times of tags (0 for never), read in one MGET: tag keys share a slot. */
  async tagTimes(tagKeys: readonly string[]): Promise<number[] | Unavailable> {
    if (tagKeys.length === 0) return [];
    const values = await this.#run('tags', (client) => client.mget(...tagKeys));
    if (values === UNAVAILABLE) return values;
    return values.map((value) => {
      const time = value === null ? 0 : Number(value);
      return Number.isFinite(time) ? time : 0;
    });
  }

  /** Moves the tags' invalidation time to `at` and publishes the bus message, in one call. */
  async invalidateTags(invalidation: TagInvalidation): Promise<boolean> {
    const { tagKeys, at, retentionMs, channel, message } = invalidation;
    if (tagKeys.length === 0) return true;
    const result = await this.#run('invalidateTags', (client) =>
      this.#eval(client, INVALIDATE_TAGS, tagKeys, [channel, message, at, retentionMs]),
    );
    return result !== UNAVAILABLE;
  }

  /**
   * Deletes every key matching `pattern` with SCAN + UNLINK on every node (every master of a
   * Cluster), then publishes the bus message. Each command has the usual deadline; the whole
   * walk takes as long as the key count needs.
   */
  async clear(pattern: string, channel: string, message: string): Promise<boolean> {
    const result = await this.#run(
      'clear',
      async (client) => {
        const nodes: Redis[] = this.#cluster
          ? (client as Cluster).nodes('master')
          : [client as Redis];
        let deleted = 0;
        for (const node of nodes) deleted += await this.#clearNode(node, pattern);
        if (channel !== '') await this.#timed(client.publish(channel, message));
        return deleted;
      },
      false,
    );
    return result !== UNAVAILABLE;
  }

  async #clearNode(node: Redis, pattern: string): Promise<number> {
    let cursor = '0';
    let deleted = 0;
    for (let round = 0; round < MAX_SCAN_ROUNDS; round++) {
      const [next, keys] = await this.#timed(
        node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT),
      );
      if (keys.length > 0) {
        // Keys from one node's SCAN still span many slots; UNLINK must stay within one.
        const groups = this.#cluster ? [...groupBySlot(keys).values()] : [keys.map((_, i) => i)];
        for (const indexes of groups) {
          deleted += await this.#timed(
            node.unlink(...indexes.map((index) => keys[index] as string)),
          );
        }
      }
      cursor = next;
      if (cursor === '0') return deleted;
    }
    throw new Error(`${PKG} clear gave up after ${MAX_SCAN_ROUNDS} SCAN rounds on one node`);
  }

  /** Round-trip time of a PING in ms, or UNAVAILABLE. */
  /**
   * A PING under the command deadline that the circuit does not hold back: `/health` must
   * tell whether Redis answers now, not whether some earlier call failed. When Redis answers,
   * the circuit closes at once instead of after its cooldown (which could otherwise keep the
   * cache off Redis, and `/health` degraded, for as long as every read is an L1 hit).
   */
  async ping(): Promise<number | Unavailable> {
    if (this.#client.status !== 'ready') return UNAVAILABLE;
    const started = performance.now();
    try {
      await this.#timed(this.#client.ping());
    } catch (error) {
      return this.#failed('ping', error);
    }
    this.#settings.breaker.reset();
    return performance.now() - started;
  }

  async #eval(
    client: RedisClient,
    script: Script,
    keys: readonly string[],
    args: ReadonlyArray<string | number>,
  ): Promise<unknown> {
    try {
      return await client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      // Scripts are lost when Redis restarts; send the source once, it is cached again.
      if (!isNoScript(error)) throw error;
      return client.eval(script.source, keys.length, ...keys, ...args);
    }
  }
}

/** Indexes of `keys` grouped by Cluster hash slot, in first-seen order. */
export function groupBySlot(keys: readonly string[]): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  keys.forEach((key, index) => {
    const slot = calculateSlot(key);
    const group = groups.get(slot);
    if (group) group.push(index);
    else groups.set(slot, [index]);
  });
  return groups;
}
