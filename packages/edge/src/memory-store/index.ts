import { LRUCache } from 'lru-cache';
import { functionOption, integerOption, oneOfOption, optionsObject } from '../options/index.js';
import {
  ALGORITHMS,
  type RateLimitAlgorithm,
  type RateLimitStore,
  type StoreDecision,
  type StoreRequest,
} from '../store/index.js';

/**
 * The two algorithms in plain TypeScript. The Redis store runs the same steps in Lua (see
 * redis); keep the two in step, the shared store tests check they agree.
 */

/** The sliding-window counter's state for one key. */
export interface WindowState {
  /** Which fixed window `current` counts: floor(time / windowMs). */
  index: number;
  current: number;
  previous: number;
}

/**
 * One sliding-window decision at `now` (ms). The estimate of units used in the last
 * `windowMs` is `previous * (share of the previous window still inside it) + current`.
 * Returns the new state (unchanged on a denial: refused requests are not counted).
 *
 * @example
 * ```ts
 * const { decision, state } = slidingWindowStep(undefined, Date.now(), { limit: 5, windowMs: 60_000, cost: 1 });
 * // decision: { allowed: true, remaining: 4, retryMs: <ms until the window moves on> }
 * ```
 */
export function slidingWindowStep(
  state: WindowState | undefined,
  now: number,
  request: StoreRequest,
): { decision: StoreDecision; state: WindowState } {
  const { limit, windowMs, cost } = request;
  let index = Math.floor(now / windowMs);
  let current = 0;
  let previous = 0;
  if (state !== undefined) {
    if (state.index === index) {
      current = state.current;
      previous = state.previous;
    } else if (state.index === index - 1) {
      previous = state.current;
    } else if (state.index > index) {
      // The clock went back (an NTP step, a Redis failover): keep counting where we were
      // rather than hand out a fresh window.
      index = state.index;
      current = state.current;
      previous = state.previous;
    }
  }
  const elapsed = Math.max(0, now - index * windowMs);
  // Multiplied before dividing, so that whole-number cases stay exact in floating point.
  const carried = (previous * (windowMs - elapsed)) / windowMs;
  const used = carried + current;
  if (cost <= limit && used + cost <= limit) {
    current += cost;
    return {
      decision: {
        allowed: true,
        remaining: Math.max(0, Math.floor(limit - (carried + current))),
        retryMs: Math.max(1, Math.ceil(windowMs - elapsed)),
      },
      state: { index, current, previous },
    };
  }
  let retryMs: number;
  if (cost > limit) {
    retryMs = windowMs - elapsed + windowMs;
  } else if (current + cost <= limit) {
    // Only the previous window's share is in the way; it shrinks linearly with time.
    retryMs = windowMs - elapsed - ((limit - current - cost) * windowMs) / previous;
  } else {
    // This window alone is full: wait for the next one, then for this window's count (then
    // the previous one) to shrink enough.
    retryMs = windowMs - elapsed + Math.max(0, windowMs - ((limit - cost) * windowMs) / current);
  }
  return {
    decision: {
      allowed: false,
      remaining: Math.max(0, Math.floor(limit - used)),
      retryMs: Math.max(1, Math.ceil(retryMs)),
    },
    state: { index, current, previous },
  };
}

/**
 * One exact sliding-log decision at `now` (ms): `times` holds one timestamp per counted
 * unit, oldest first, and is updated in place.
 *
 * @example
 * ```ts
 * const times: number[] = [];
 * slidingLogStep(times, 1_000, { limit: 2, windowMs: 60_000, cost: 1 }); // allowed, remaining 1
 * ```
 */
export function slidingLogStep(times: number[], now: number, request: StoreRequest): StoreDecision {
  const { limit, windowMs, cost } = request;
  const horizon = now - windowMs;
  let expired = 0;
  while (expired < times.length && (times[expired] as number) <= horizon) expired++;
  if (expired > 0) times.splice(0, expired);
  const count = times.length;
  if (cost <= limit && count + cost <= limit) {
    for (let unit = 0; unit < cost; unit++) times.push(now);
    return {
      allowed: true,
      remaining: limit - count - cost,
      retryMs: Math.max(1, (times[0] as number) + windowMs - now),
    };
  }
  if (cost > limit)
    return { allowed: false, remaining: Math.max(0, limit - count), retryMs: windowMs };
  // The request fits once the oldest (count + cost - limit) units have left the window.
  const freeing = times[count + cost - limit - 1] as number;
  return {
    allowed: false,
    remaining: Math.max(0, limit - count),
    retryMs: Math.max(1, freeing + windowMs - now),
  };
}

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * @default 'sliding-window'
   */
  algorithm?: RateLimitAlgorithm | undefined;
  /**
   * Keys kept; the least recently used go first, so a flood of distinct clients cannot grow
   * the process without bound (an evicted key starts afresh).
   * @default 100000
   */
  maxKeys?: number | undefined;
  /**
   * The clock, in milliseconds.
   * @default Date.now
   */
  now?: (() => number) | undefined;
}

/**
 * A rate-limit store in this process: for development and tests, and what the limiter's
 * `local` failure policy falls back to. Counts are not shared between processes; use the
 * Redis store for that. Decisions are synchronous.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * const limiter = createRateLimiter({ store: createMemoryStore(), limit: 100, windowSeconds: 60 });
 * ```
 */
export function createMemoryStore(options?: MemoryStoreOptions): RateLimitStore {
  const factory = 'createMemoryStore';
  const opts = optionsObject(factory, options);
  const algorithm = oneOfOption(factory, {
    name: 'algorithm',
    value: opts.algorithm,
    allowed: ALGORITHMS,
    fallback: 'sliding-window',
  });
  const max = integerOption(factory, {
    name: 'maxKeys',
    value: opts.maxKeys,
    fallback: 100_000,
    min: 1,
  });
  const now = functionOption<() => number>(factory, 'now', opts.now) ?? Date.now;

  if (algorithm === 'sliding-log') {
    const logs = new LRUCache<string, number[]>({ max });
    return {
      kind: 'memory',
      algorithm,
      consume(key, request) {
        let times = logs.get(key);
        if (times === undefined) {
          times = [];
          logs.set(key, times);
        }
        return slidingLogStep(times, now(), request);
      },
      reset(key) {
        logs.delete(key);
      },
    };
  }
  const windows = new LRUCache<string, WindowState>({ max });
  return {
    kind: 'memory',
    algorithm,
    consume(key, request) {
      const previous = windows.get(key);
      const { decision, state } = slidingWindowStep(previous, now(), request);
      if (decision.allowed) windows.set(key, state);
      return decision;
    },
    reset(key) {
      windows.delete(key);
    },
  };
}
