import { FairmindError } from '@fairmind/core';
import { withDeadline } from '../deadline/index.js';
import { storeUnavailable } from '../errors/index.js';

/**
 * `store` with each of `methods` bounded by `timeoutMs` and its failures turned into 503
 * `AUTH_STORE_UNAVAILABLE` (with `Retry-After`). A login, refresh or logout then answers within
 * about `timeoutMs` whatever the store's client does while its server is away (ioredis's
 * default offline queue would hold the call until Redis returns). A `FairmindError` the store
 * throws on purpose (a conflict, say) passes through as it is.
 *
 * @example
 * ```ts
 * const families = guardStore(createRedisRefreshFamilyStore({ client }), 'refresh-token store', 1000, [
 *   'create', 'rotate', 'revoke',
 * ]);
 * ```
 */
export function guardStore<S extends object, K extends keyof S>(
  store: S,
  what: string,
  timeoutMs: number,
  methods: readonly K[],
): S {
  const guarded: S = Object.create(store);
  for (const name of methods) {
    const method = store[name];
    if (typeof method !== 'function') continue;
    const call = (...args: unknown[]) =>
      withDeadline(
        Promise.resolve().then(() => method.apply(store, args)),
        timeoutMs,
        `the ${what}`,
      ).catch((error: unknown) => {
        throw error instanceof FairmindError ? error : storeUnavailable(what, error);
      });
    guarded[name] = call as S[K];
  }
  return guarded;
}
