import { functionOption, integerOption, optionsObject } from '../options/index.js';

/**
 * A circuit breaker for calls to a shared service. Written here rather than taken from
 * opossum: the limiter needs a synchronous "may I call?" on its hot path and nothing else,
 * and opossum wraps every call in its own promise, timer and event emitter.
 */

/** `closed`: calls go through. `open`: calls are refused. `half-open`: one trial call is out. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** Options of {@link createCircuitBreaker}. */
export interface CircuitBreakerOptions {
  /**
   * Consecutive failures that open the circuit.
   * @default 5
   */
  failureThreshold?: number;
  /**
   * How long the circuit stays open before one trial call is let through, in ms.
   * @default 5000
   */
  cooldownMs?: number;
  /**
   * Called on every change of state, for logs and metrics.
   * @default undefined
   */
  onStateChange?: (state: CircuitState, previous: CircuitState) => void;
  /**
   * The clock, in milliseconds.
   * @default performance.now
   */
  now?: () => number;
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
}

/**
 * Creates a circuit breaker: after `failureThreshold` consecutive failures it opens and
 * refuses calls for `cooldownMs`, then lets one trial call through; that call's success
 * closes it, its failure opens it for another cooldown. A dead dependency then costs one
 * timeout per cooldown instead of one per request.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * const breaker = createCircuitBreaker({ failureThreshold: 5, cooldownMs: 5_000 });
 * if (!breaker.allow()) return fallback();
 * try { const value = await call(); breaker.success(); return value; }
 * catch { breaker.failure(); return fallback(); }
 * ```
 */
export function createCircuitBreaker(options?: CircuitBreakerOptions): CircuitBreaker {
  const factory = 'createCircuitBreaker';
  const opts = optionsObject(factory, options);
  const threshold = integerOption(factory, 'failureThreshold', opts.failureThreshold, 5, 1);
  const cooldownMs = integerOption(factory, 'cooldownMs', opts.cooldownMs, 5_000, 1);
  const onStateChange = functionOption<(state: CircuitState, previous: CircuitState) => void>(
    factory,
    'onStateChange',
    opts.onStateChange,
  );
  const now = functionOption<() => number>(factory, 'now', opts.now) ?? (() => performance.now());

  let state: CircuitState = 'closed';
  let failures = 0;
  let openedAt = 0;

  function move(next: CircuitState): void {
    const previous = state;
    state = next;
    if (next === 'open') openedAt = now();
    if (next !== previous) onStateChange?.(next, previous);
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
    success() {
      failures = 0;
      if (state !== 'closed') move('closed');
    },
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
  };
}
