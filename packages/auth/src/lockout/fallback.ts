import { type Logger, silentLogger } from '@fairmind/core';
import { describe, invalid, PREFIX } from '../errors/index.js';
import { type AttemptRecord, type AttemptStore, createMemoryAttemptStore } from './index.js';

/** Options of {@link createFallbackAttemptStore}. */
export interface FallbackAttemptStoreOptions {
  /** The shared store, usually `createRedisAttemptStore`. */
  primary: AttemptStore;
  /**
   * Where failures are counted while `primary` cannot be reached.
   * @default createMemoryAttemptStore()
   */
  fallback?: AttemptStore | undefined;
  /** Where the switches between the two go, once each. @default silentLogger */
  logger?: Logger | undefined;
}

/**
 * Login failure counters that survive the shared store's outage: while `primary` (Redis)
 * cannot be reached, failures are counted in `fallback` (this process's memory), so logins go
 * on and brute force is still checked, per instance rather than across all of them, until it
 * answers again. A lockout counted during the outage still holds afterwards: `get` answers the
 * higher of the two counters.
 *
 * @example
 * ```ts
 * const attempts = createFallbackAttemptStore({ primary: createRedisAttemptStore({ client }) });
 * const auth = createAuth({ secret, users, attempts });
 * ```
 */
export function createFallbackAttemptStore(options: FallbackAttemptStoreOptions): AttemptStore {
  const { primary } = options;
  if (typeof primary?.fail !== 'function') {
    throw invalid('createFallbackAttemptStore primary', 'must be an AttemptStore');
  }
  const fallback = options.fallback ?? createMemoryAttemptStore();
  const logger = options.logger ?? silentLogger;
  let away = false;

  async function either<T>(work: (store: AttemptStore) => Promise<T>): Promise<T> {
    try {
      const result = await work(primary);
      if (away) {
        away = false;
        logger.info({}, `${PREFIX} the login attempt store answers again`);
      }
      return result;
    } catch (error) {
      if (!away) {
        away = true;
        logger.warn(
          { error: describe(error) },
          `${PREFIX} the login attempt store cannot be reached; counting failed logins in this process until it answers again`,
        );
      }
      return work(fallback);
    }
  }

  const higher = (a: AttemptRecord | null, b: AttemptRecord | null) =>
    a === null ? b : b === null || a.count >= b.count ? a : b;

  return {
    fail: (key, windowMs, at) => either((store) => store.fail(key, windowMs, at)),
    async get(key) {
      const [shared, local] = await Promise.all([
        either((store) => store.get(key)),
        fallback.get(key),
      ]);
      return higher(shared, local);
    },
    async reset(key) {
      await Promise.all([either((store) => store.reset(key)), fallback.reset(key)]);
    },
  };
}
