import { FairmindError, type Logger, silentLogger } from '@fairmind/core';
import { counter } from '@fairmind/core/metrics';
import { LRUCache } from 'lru-cache';
import type { Registry } from 'prom-client';
import {
  type CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitState,
  createCircuitBreaker,
} from '../circuit-breaker/index.js';
import { createMemoryStore } from '../memory-store/index.js';
import { integerOption, oneOfOption, optionError, optionsObject, PKG } from '../options/index.js';
import type { RateLimitStore, StoreDecision } from '../store/index.js';

/**
 * What the limiter does when its store fails, times out or has its circuit open:
 * - `open`: let the request through (availability first; nothing is counted).
 * - `closed`: refuse it with a 503 (protection first).
 * - `local`: decide from an in-memory store in this process, so each instance still
 *   enforces the limit on its own traffic until the shared store is back.
 */
export type FailurePolicy = 'open' | 'closed' | 'local';

/** Where a decision came from. */
export type DecisionSource = 'store' | 'cache' | 'local' | 'open' | 'closed';

/** One rate-limit decision. */
export interface RateLimitResult {
  readonly allowed: boolean;
  /** The policy name, as in `RateLimit-Policy: "<name>";q=...`. */
  readonly policy: string;
  readonly limit: number;
  readonly windowSeconds: number;
  /** Units left in the window after this request. */
  readonly remaining: number;
  /**
   * Whole seconds until a request is allowed again (denied) or the window moves on
   * (allowed): the `t` of the `RateLimit` header and, when denied, `Retry-After`.
   */
  readonly resetSeconds: number;
  /**
   * `store`: the store decided. `cache`: refused from the local cache of keys known to be
   * over their limit, without asking the store. `local`, `open`, `closed`: the store failed
   * and the failure policy decided.
   */
  readonly source: DecisionSource;
}

/** Options of {@link createRateLimiter}. */
export interface RateLimiterOptions {
  /**
   * Where counts live. Use `createRedisStore` so that every instance shares them.
   * @default createMemoryStore()
   */
  store?: RateLimitStore | undefined;
  /**
   * Units allowed per window (`RATE_LIMIT_REQUESTS`).
   * @default 1000
   */
  limit?: number | undefined;
  /**
   * The window in whole seconds (`RATE_LIMIT_WINDOW`).
   * @default 60
   */
  windowSeconds?: number | undefined;
  /**
   * The policy name: in the `RateLimit` headers and in the store keys, so two policies
   * never share a count. Letters, digits, `.`, `_` and `-`.
   * @default 'default'
   */
  name?: string | undefined;
  /**
   * What a failing store means; see {@link FailurePolicy}.
   * @default 'local'
   */
  failure?: FailurePolicy | undefined;
  /**
   * How long one decision may wait for the store, in ms; after that the failure policy
   * decides and the late answer is ignored.
   * @default 100
   */
  timeoutMs?: number | undefined;
  /**
   * The circuit breaker around the store, or `false` for none: after `failureThreshold`
   * failures in a row the store is not asked for `cooldownMs`, so a dead Redis costs no
   * timeout per request.
   * @default { failureThreshold: 5, cooldownMs: 5000 }
   */
  breaker?: Pick<CircuitBreakerOptions, 'failureThreshold' | 'cooldownMs'> | false | undefined;
  /**
   * Remember keys the store refused until they may retry, and refuse requests of the same
   * or a higher cost from memory, without a store round trip. Such a request would be
   * refused by the store anyway, so this changes nothing but the cost of a flood (except
   * that `reset()` on another instance does not reach this cache). `maxKeys` bounds the
   * memory.
   * @default { maxKeys: 10000 }
   */
  denyCache?: { maxKeys?: number } | false | undefined;
  /** @default silentLogger */
  logger?: Logger | undefined;
  /**
   * Where `fairmind_rate_limit_decisions_total` and `fairmind_rate_limit_store_errors_total`
   * go; no metrics without one.
   * @default undefined
   */
  registry?: Registry | undefined;
}

/** A limiter for one policy; see {@link createRateLimiter}. */
export interface RateLimiter {
  readonly name: string;
  readonly limit: number;
  readonly windowSeconds: number;
  readonly store: RateLimitStore;
  /** The store's circuit: `closed` while the store answers. */
  readonly circuit: CircuitState;
  /**
   * Counts `cost` units against `key` and decides. Synchronous when the answer is known
   * locally (the deny cache, the memory store, an open circuit), a promise otherwise; it
   * never rejects for a store failure, and never waits longer than `timeoutMs`.
   */
  consume(key: string, cost?: number): RateLimitResult | Promise<RateLimitResult>;
  /** Forgets `key` in the store, the deny cache and the local fallback. */
  reset(key: string): Promise<void>;
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown }).then === 'function';
}

interface Waiter {
  readonly deadline: number;
  settled: boolean;
  readonly expire: () => void;
}

/**
 * Deadlines for in-flight store calls. Every call has the same timeout, so deadlines come in
 * the order calls start: one queue and one timer serve them all, instead of a timer set and
 * cleared per decision on the hot path.
 */
class DeadlineQueue {
  readonly #timeoutMs: number;
  #queue: Waiter[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  add(expire: () => void): Waiter {
    const waiter: Waiter = {
      deadline: performance.now() + this.#timeoutMs,
      settled: false,
      expire,
    };
    this.#queue.push(waiter);
    if (this.#timer === undefined) this.#arm(this.#timeoutMs);
    return waiter;
  }

  #arm(delay: number): void {
    this.#timer = setTimeout(this.#fire, delay);
    // Pending decisions must not keep a process alive that is otherwise done.
    this.#timer.unref?.();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const waiter = queue[this.#head] as Waiter;
      if (!waiter.settled) {
        if (waiter.deadline > now) break;
        waiter.settled = true;
        waiter.expire();
      }
      this.#head++;
    }
    if (this.#head === queue.length) {
      this.#queue = [];
      this.#head = 0;
      return;
    }
    if (this.#head > 1024) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    const next = this.#queue[this.#head] as Waiter;
    this.#arm(Math.max(1, Math.ceil(next.deadline - now)));
  };
}

/** A refusal remembered by the deny cache: requests of `cost` or more wait until `until`. */
interface Refusal {
  readonly until: number;
  readonly cost: number;
  readonly remaining: number;
}

interface Counters {
  allowed(source: DecisionSource): void;
  denied(source: DecisionSource): void;
  error(reason: 'timeout' | 'error' | 'circuit_open'): void;
}

const SOURCES: readonly DecisionSource[] = ['store', 'cache', 'local', 'open', 'closed'];

function counters(registry: Registry | undefined, policy: string): Counters {
  if (registry === undefined) return { allowed() {}, denied() {}, error() {} };
  const decisions = counter(registry, {
    name: 'fairmind_rate_limit_decisions_total',
    help: 'Rate-limit decisions by policy, result (allowed, denied) and source.',
    labelNames: ['policy', 'result', 'source'],
  });
  const errors = counter(registry, {
    name: 'fairmind_rate_limit_store_errors_total',
    help: 'Rate-limit store calls that failed, timed out, or were skipped by an open circuit.',
    labelNames: ['policy', 'reason'],
  });
  // Children bound once: labelling per decision would hash the label set every time.
  const allowed = new Map(SOURCES.map((s) => [s, decisions.labels(policy, 'allowed', s)]));
  const denied = new Map(SOURCES.map((s) => [s, decisions.labels(policy, 'denied', s)]));
  const failed = {
    timeout: errors.labels(policy, 'timeout'),
    error: errors.labels(policy, 'error'),
    circuit_open: errors.labels(policy, 'circuit_open'),
  };
  return {
    allowed: (source) => allowed.get(source)?.inc(),
    denied: (source) => denied.get(source)?.inc(),
    error: (reason) => failed[reason].inc(),
  };
}

function checkStore(factory: string, store: unknown): RateLimitStore | undefined {
  if (store === undefined) return undefined;
  const candidate = store as Partial<RateLimitStore> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.consume !== 'function' ||
    typeof candidate.reset !== 'function'
  ) {
    throw optionError(
      factory,
      'store must be a rate-limit store such as createRedisStore({ client }) or createMemoryStore().',
    );
  }
  return candidate as RateLimitStore;
}

function resolveBreaker(
  factory: string,
  value: RateLimiterOptions['breaker'],
  onStateChange: (state: CircuitState, previous: CircuitState) => void,
): CircuitBreaker | undefined {
  if (value === false) return undefined;
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw optionError(factory, 'breaker must be { failureThreshold, cooldownMs } or false.');
  }
  return createCircuitBreaker({ ...value, onStateChange });
}

/**
 * Creates the decision engine of one rate-limit policy, without HTTP: the `rateLimit`
 * middleware is built on it, and anything else that needs a limit (a queue consumer, a
 * login throttle) can use it directly.
 *
 * Around the store it puts a per-call timeout, a circuit breaker and a failure policy, and
 * in front of it a cache of keys already over their limit, which are refused until they may
 * retry without a round trip.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * const limiter = createRateLimiter({
 *   store: createRedisStore({ client: redis }),
 *   limit: 5,
 *   windowSeconds: 60,
 *   failure: 'local',
 * });
 * const result = await limiter.consume(`user:${userId}`);
 * if (!result.allowed) throw new FairmindError('RATE_LIMITED', 429, `Retry in ${result.resetSeconds} s.`);
 * ```
 */
export function createRateLimiter(options?: RateLimiterOptions): RateLimiter {
  const factory = 'createRateLimiter';
  const opts = optionsObject(factory, options);
  const store = checkStore(factory, opts.store) ?? createMemoryStore();
  const limit = integerOption(factory, {
    name: 'limit',
    value: opts.limit,
    fallback: 1000,
    min: 1,
  });
  const windowSeconds = integerOption(factory, {
    name: 'windowSeconds',
    value: opts.windowSeconds,
    fallback: 60,
    min: 1,
  });
  const name = opts.name ?? 'default';
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw optionError(
      factory,
      `name must be 1-64 letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}.`,
    );
  }
  const failure = oneOfOption(factory, {
    name: 'failure',
    value: opts.failure,
    allowed: ['open', 'closed', 'local'] as const,
    fallback: 'local',
  });
  const timeoutMs = integerOption(factory, {
    name: 'timeoutMs',
    value: opts.timeoutMs,
    fallback: 100,
    min: 1,
    max: 60_000,
  });
  const logger = opts.logger ?? silentLogger;
  const metrics = counters(opts.registry, name);
  const windowMs = windowSeconds * 1000;

  let lastError: unknown;
  const breaker = resolveBreaker(factory, opts.breaker, (state, previous) => {
    if (state === 'open') {
      logger.warn(
        { policy: name, store: store.kind, failure, err: lastError },
        `[${PKG}] rate-limit store is failing: circuit open, the '${failure}' failure policy decides until it recovers`,
      );
    } else if (state === 'closed' && previous !== 'closed') {
      logger.info({ policy: name, store: store.kind }, `[${PKG}] rate-limit store recovered`);
    }
  });

  let denyCache: LRUCache<string, Refusal> | undefined;
  if (opts.denyCache !== false) {
    if (
      opts.denyCache !== undefined &&
      (typeof opts.denyCache !== 'object' || opts.denyCache === null)
    ) {
      throw optionError(factory, 'denyCache must be { maxKeys } or false.');
    }
    const max = integerOption(factory, {
      name: 'denyCache.maxKeys',
      value: opts.denyCache?.maxKeys,
      fallback: 10_000,
      min: 1,
    });
    denyCache = new LRUCache<string, Refusal>({ max, ttlAutopurge: false });
  }
  const local = failure === 'local' ? createMemoryStore({ algorithm: store.algorithm }) : undefined;
  const deadlines = new DeadlineQueue(timeoutMs);

  function result(allowed: boolean, remaining: number, retryMs: number, source: DecisionSource) {
    if (allowed) metrics.allowed(source);
    else metrics.denied(source);
    return {
      allowed,
      policy: name,
      limit,
      windowSeconds,
      remaining,
      resetSeconds: Math.max(allowed ? 0 : 1, Math.ceil(retryMs / 1000)),
      source,
    } satisfies RateLimitResult;
  }

  function fromStore(key: string, cost: number, decision: StoreDecision): RateLimitResult {
    if (!decision.allowed && denyCache !== undefined) {
      const now = performance.now();
      const known = denyCache.get(key);
      // A refusal of `cost` units also refuses every dearer request until then (the wait
      // grows with the cost); keep the one that covers the most requests.
      if (known === undefined || known.until <= now || cost <= known.cost) {
        denyCache.set(
          key,
          { until: now + decision.retryMs, cost, remaining: decision.remaining },
          { ttl: decision.retryMs },
        );
      }
    }
    return result(decision.allowed, decision.remaining, decision.retryMs, 'store');
  }

  function fallback(key: string, cost: number): RateLimitResult {
    if (failure === 'open') return result(true, limit, windowMs, 'open');
    if (failure === 'closed') return result(false, 0, 1000, 'closed');
    const decision = (local as RateLimitStore).consume(key, {
      limit,
      windowMs,
      cost,
    }) as StoreDecision;
    return result(decision.allowed, decision.remaining, decision.retryMs, 'local');
  }

  function failed(key: string, cost: number, error: unknown, reason: 'timeout' | 'error') {
    lastError = error;
    metrics.error(reason);
    logger.debug({ policy: name, err: error }, `[${PKG}] rate-limit store call failed (${reason})`);
    breaker?.failure();
    return fallback(key, cost);
  }

  function consume(key: string, cost = 1): RateLimitResult | Promise<RateLimitResult> {
    if (!Number.isInteger(cost) || cost < 1) {
      throw new FairmindError(
        'INVALID_COST',
        500,
        `[${PKG}] a rate-limit cost must be a whole number of at least 1, got ${String(cost)}: check the cost option.`,
      );
    }
    const storeKey = `${name}:${key}`;
    if (denyCache !== undefined) {
      const refusal = denyCache.get(storeKey);
      if (refusal !== undefined && cost >= refusal.cost) {
        const wait = refusal.until - performance.now();
        if (wait > 0) return result(false, refusal.remaining, wait, 'cache');
      }
    }
    if (breaker !== undefined && !breaker.allow()) {
      metrics.error('circuit_open');
      return fallback(storeKey, cost);
    }
    let answer: StoreDecision | Promise<StoreDecision>;
    try {
      answer = store.consume(storeKey, { limit, windowMs, cost });
    } catch (error) {
      return failed(storeKey, cost, error, 'error');
    }
    if (!isThenable(answer)) {
      breaker?.success();
      return fromStore(storeKey, cost, answer);
    }
    const pending = answer;
    return new Promise<RateLimitResult>((resolve) => {
      const waiter = deadlines.add(() => {
        resolve(
          failed(
            storeKey,
            cost,
            new Error(`[${PKG}] the rate-limit store did not answer within ${timeoutMs} ms`),
            'timeout',
          ),
        );
      });
      pending.then(
        (decision) => {
          if (waiter.settled) return;
          waiter.settled = true;
          breaker?.success();
          resolve(fromStore(storeKey, cost, decision));
        },
        (error: unknown) => {
          if (waiter.settled) return;
          waiter.settled = true;
          resolve(failed(storeKey, cost, error, 'error'));
        },
      );
    });
  }

  return {
    name,
    limit,
    windowSeconds,
    store,
    get circuit(): CircuitState {
      return breaker?.state ?? 'closed';
    },
    consume,
    async reset(key: string): Promise<void> {
      const storeKey = `${name}:${key}`;
      denyCache?.delete(storeKey);
      local?.reset(storeKey);
      await store.reset(storeKey);
    },
  };
}
