import { LRUCache } from 'lru-cache';
import { integerOption, optionError } from '../options/index.js';
import type { StoreDecision } from '../store/index.js';
import type { RateLimiterOptions } from './index.js';

/** A refusal remembered by the deny cache: requests of `cost` or more wait until `until`. */
export interface Refusal {
  readonly until: number;
  readonly cost: number;
  readonly remaining: number;
}

/** Keys the store refused, by store key, until they may retry. */
export type DenyCache = LRUCache<string, Refusal>;

/** The deny cache the `denyCache` option asks for, or `undefined` for none. */
export function createDenyCache(
  factory: string,
  option: RateLimiterOptions['denyCache'],
): DenyCache | undefined {
  if (option === false) return undefined;
  if (option !== undefined && (typeof option !== 'object' || option === null)) {
    throw optionError(factory, 'denyCache must be { maxKeys } or false.');
  }
  const max = integerOption(factory, {
    name: 'denyCache.maxKeys',
    value: option?.maxKeys,
    fallback: 10_000,
    min: 1,
  });
  return new LRUCache<string, Refusal>({ max, ttlAutopurge: false });
}

/** Remembers a store refusal of `cost` units against `key`. */
export function rememberRefusal(
  cache: DenyCache,
  key: string,
  cost: number,
  decision: StoreDecision,
): void {
  const now = performance.now();
  const known = cache.get(key);
  // A refusal of `cost` units also refuses every dearer request until then (the wait
  // grows with the cost); keep the one that covers the most requests.
  if (known === undefined || known.until <= now || cost <= known.cost) {
    cache.set(
      key,
      { until: now + decision.retryMs, cost, remaining: decision.remaining },
      { ttl: decision.retryMs },
    );
  }
}
