import { invalidOptions } from '../contract/index.js';
import {
  functionRule,
  type OptionScope,
  optionOrDefault,
  wholeNumberRule,
} from '../options/index.js';

/**
 * A circuit breaker for calls to a shared service (Redis for the cache and the rate limiter).
 * Written here rather than taken from opossum: the callers need a synchronous "may I call?"
 * on their hot paths and nothing else, and opossum wraps every call in its own promise, timer
 * and event emitter, which costs more than the Redis round trip it guards. One breaker for
 * the whole toolkit, so the cache and the rate limiter behave alike when Redis fails.
 */

const PKG = '@fairmind/core';
const FACTORY = 'createCircuitBreaker';

/** `closed`: calls go through. `open`: calls are refused. `half-open`: one trial call is out. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** Options of {@link createCircuitBreaker}. */
export interface CircuitBreakerOptions {
  /**
   * Consecutive failures that open the circuit.
   * @default 5
   */
  failureThreshold?: number | undefined;
  /**
   * How long the circuit stays open before one trial call is let through, in ms.
   * @default 5000
   */
  cooldownMs?: number | undefined;
  /**
   * Called on every change of state, for logs and metrics.
   * @default undefined
   */
  onStateChange?: ((state: CircuitState, previous: CircuitState) => void) | undefined;
  /**
   * The clock, in milliseconds.
   * @default performance.now
   */
  now?: (() => number) | undefined;
}

/** See {@link createCircuitBreaker}. */
export interface CircuitBreaker {
  readonly state: CircuitState;
  /**
   * Whether a call may be made now. While half-open this is true once, for the trial call,
   * and false for everyone else until that call reports back.
   */
  allow(): boolean;
  /** Report a call that succeeded: the circuit closes. */
  success(): void;
  /** Report a call that failed or timed out. */
  failure(): void;
  /**
   * Close the circuit and forget past failures, when the caller knows the service is back
   * (a client that has just reconnected, say).
   */
  reset(): void;
}

const NUMBERS: OptionScope = { pkg: PKG, factory: FACTORY, got: (v) => `, got ${String(v)}.` };
const FUNCTIONS: OptionScope = { ...NUMBERS, got: (v) => `, got ${typeof v}.` };
const AT_LEAST_ONE = wholeNumberRule({ min: 1 });

/**
 * Creates a circuit breaker: after `failureThreshold` consecutive failures it opens and
 * refuses calls for `cooldownMs`, then lets one trial call through; that call's success
 * closes it, its failure opens it for another cooldown. A dead dependency then costs one
 * timeout per cooldown instead of one per request. Failures reported while it is open (calls
 * that were already out) do not extend the cooldown.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * import { createCircuitBreaker } from '@fairmind/core';
 *
 * const breaker = createCircuitBreaker({ failureThreshold: 5, cooldownMs: 5_000 });
 * if (!breaker.allow()) return fallback();
 * try { const value = await call(); breaker.success(); return value; }
 * catch { breaker.failure(); return fallback(); }
 * ```
 */
export function createCircuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreaker {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidOptions(PKG, `${FACTORY}: options must be an object.`);
  }
  const threshold = optionOrDefault(NUMBERS, {
    name: 'failureThreshold',
    value: options.failureThreshold,
    rule: AT_LEAST_ONE,
    fallback: 5,
  });
  const cooldownMs = optionOrDefault(NUMBERS, {
    name: 'cooldownMs',
    value: options.cooldownMs,
    rule: AT_LEAST_ONE,
    fallback: 5_000,
  });
  const onStateChange = optionOrDefault(FUNCTIONS, {
    name: 'onStateChange',
    value: options.onStateChange,
    rule: functionRule,
    fallback: undefined,
  }) as ((state: CircuitState, previous: CircuitState) => void) | undefined;
  const now =
    (optionOrDefault(FUNCTIONS, {
      name: 'now',
      value: options.now,
      rule: functionRule,
      fallback: undefined,
    }) as (() => number) | undefined) ?? (() => performance.now());

  let state: CircuitState = 'closed';
  let failures = 0;
  let openedAt = 0;

  function move(next: CircuitState): void {
    const previous = state;
    state = next;
    if (next === 'open') openedAt = now();
    if (next !== previous) onStateChange?.(next, previous);
  }

  function success(): void {
    failures = 0;
    if (state !== 'closed') move('closed');
  }

  return {
    get state() {
      return state;
    },
    allow() {
      if (state === 'closed') return true;
      if (state === 'open' && now() - openedAt >= cooldownMs) {
        move('half-open');
        return true;
      }
      return false;
    },
    success,
    failure() {
      if (state === 'half-open') {
        move('open');
        return;
      }
      if (state === 'open') return;
      failures++;
      if (failures >= threshold) {
        failures = 0;
        move('open');
      }
    },
    reset: success,
  };
}
