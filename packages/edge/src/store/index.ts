/**
 * What a rate-limit store is: the one place where counts live. The Redis store makes the
 * counts agree across instances; the memory store keeps them in the process, for development
 * and as the `local` fallback. Both run the same two algorithms with the same results, so a
 * test written against one holds for the other.
 */

/**
 * - `sliding-window`: a counter per fixed window, with the previous window's count weighted
 *   by how much of it still overlaps the sliding window. Two numbers per key, O(1), and at
 *   most a few percent off an exact count when traffic in the previous window was uneven.
 * - `sliding-log`: one sorted-set entry per counted unit, exact, but memory grows with the
 *   limit (use it for small limits such as login attempts).
 */
export type RateLimitAlgorithm = 'sliding-window' | 'sliding-log';

/** One decision request to a store. */
export interface StoreRequest {
  /** Units allowed per window. */
  readonly limit: number;
  /** The window length in milliseconds. */
  readonly windowMs: number;
  /** Units this request takes; at least 1. */
  readonly cost: number;
}

/** A store's answer. Denied requests are not counted. */
export interface StoreDecision {
  readonly allowed: boolean;
  /** Units left after this request (whole units, never negative). */
  readonly remaining: number;
  /**
   * Allowed: milliseconds until the window moves on and frees capacity. Denied: milliseconds
   * until a request of the same cost would be allowed.
   */
  readonly retryMs: number;
}

/** A place to count requests in. */
export interface RateLimitStore {
  /** `'redis'`, `'memory'`, or a custom store's name: for logs and health. */
  readonly kind: string;
  readonly algorithm: RateLimitAlgorithm;
  /** Counts `cost` against `key` if it fits, atomically, and says whether it did. */
  consume(key: string, request: StoreRequest): StoreDecision | Promise<StoreDecision>;
  /** Forgets everything counted against `key`. */
  reset(key: string): void | Promise<void>;
}

/** Every {@link RateLimitAlgorithm}, for validating options. */
export const ALGORITHMS: readonly RateLimitAlgorithm[] = ['sliding-window', 'sliding-log'];
