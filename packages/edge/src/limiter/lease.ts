import { LRUCache } from 'lru-cache';
import { integerOption, optionError } from '../options/index.js';
import type { StoreDecision } from '../store/index.js';
import type { RateLimiterOptions } from './index.js';

/** The checked `lease` option. */
export interface LeaseSettings {
  /** The most units one store call reserves. */
  readonly maxUnits: number;
  /** How long reserved units may be spent, in ms. */
  readonly maxMs: number;
  readonly maxKeys: number;
}

/**
 * A key's reservation: units the store has already counted, which this instance hands out
 * without asking it again until they run out or `until` passes.
 */
interface Lease {
  /** Counted by the store and not handed out yet. */
  units: number;
  /** performance.now() after which the units are not spent any more. */
  until: number;
  /** The store's `remaining` when the units were reserved. */
  remaining: number;
  /** performance.now() at which the store said its window moves on. */
  resetAt: number;
  /** Units the next store call asks for. */
  size: number;
  /** Units handed out since the last reservation, to size the next one on expiry. */
  spent: number;
  /** The store call in flight for this key: requests that find no units wait for it. */
  pending: Promise<unknown> | undefined;
}

/** What a request spent from a lease, for its result. */
export interface LeaseSpend {
  readonly remaining: number;
  readonly retryMs: number;
}

// A reservation takes at most this share of what the store says is left, so that as a key
// nears its limit the reservations shrink to one unit and the count is exact again, and
// several instances sharing a hot key each get a part of the rest.
const SHARE_OF_REMAINING = 8;

/** The `lease` option checked, or `undefined` when leasing is off (the default). */
export function leaseSettings(
  factory: string,
  option: RateLimiterOptions['lease'],
): LeaseSettings | undefined {
  if (option === undefined || option === false) return undefined;
  if (option !== true && (typeof option !== 'object' || option === null)) {
    throw optionError(factory, 'lease must be true, false or { maxUnits, maxMs, maxKeys }.');
  }
  const given = option === true ? {} : option;
  return {
    maxUnits: integerOption(factory, {
      name: 'lease.maxUnits',
      value: given.maxUnits,
      fallback: 100,
      min: 1,
    }),
    maxMs: integerOption(factory, {
      name: 'lease.maxMs',
      value: given.maxMs,
      fallback: 1000,
      min: 1,
      max: 60_000,
    }),
    maxKeys: integerOption(factory, {
      name: 'lease.maxKeys',
      value: given.maxKeys,
      fallback: 10_000,
      min: 1,
    }),
  };
}

/**
 * The leases of one policy. Written by hand: no rate-limit library reserves from a shared
 * count and spends locally with reservations that size themselves to the key's traffic.
 *
 * A reservation starts at the request's own cost, doubles each time one is used up before
 * it expires, and falls back to what was spent when one expires unused; it never exceeds
 * `maxUnits` nor an eighth of what the store said was left. Units reserved and not spent
 * are never handed out: the shared count errs towards refusing, never towards admitting
 * more than the limit.
 */
export class LeaseBook {
  readonly #settings: LeaseSettings;
  readonly #leases: LRUCache<string, Lease>;

  constructor(settings: LeaseSettings) {
    this.#settings = settings;
    this.#leases = new LRUCache<string, Lease>({ max: settings.maxKeys });
  }

  /** Hands out `cost` units of `key`'s lease, or `undefined` when it has not enough. */
  spend(key: string, cost: number, now: number): LeaseSpend | undefined {
    const lease = this.#leases.get(key);
    if (lease === undefined || lease.units < cost || now >= lease.until) return undefined;
    lease.units -= cost;
    lease.spent += cost;
    return { remaining: lease.remaining + lease.units, retryMs: lease.resetAt - now };
  }

  /** The store call in flight for `key`, which a request short of units waits for. */
  pending(key: string): Promise<unknown> | undefined {
    return this.#leases.get(key)?.pending;
  }

  /** How many units the store call for a request of `cost` against `key` asks for. */
  size(key: string, cost: number, now: number): number {
    const lease = this.#leases.get(key);
    if (lease === undefined) return cost;
    const { maxUnits } = this.#settings;
    // Used up in time: the traffic outruns the reservation. Expired: size it to the traffic.
    const wanted = now < lease.until ? lease.size * 2 : lease.spent;
    const share = Math.floor(lease.remaining / SHARE_OF_REMAINING);
    return Math.max(cost, Math.min(wanted, maxUnits, share));
  }

  /** Marks `key`'s store call in flight, creating its entry on its first call. */
  asking(key: string, call: Promise<unknown>): void {
    const lease = this.#leases.get(key);
    if (lease !== undefined) {
      lease.pending = call;
      return;
    }
    this.#leases.set(key, {
      units: 0,
      until: 0,
      remaining: 0,
      resetAt: 0,
      size: 0,
      spent: 0,
      pending: call,
    });
  }

  /**
   * Records the store's answer to a call for `size` units of which the request took `cost`,
   * and returns what the request's result reports as remaining.
   */
  granted(key: string, call: { size: number; cost: number }, decision: StoreDecision): number {
    const lease = this.#leases.get(key);
    if (lease === undefined) return decision.remaining;
    const now = performance.now();
    lease.pending = undefined;
    if (!decision.allowed) {
      // Refused: the key is at its limit, so the next call asks for its own cost alone.
      lease.units = 0;
      lease.until = 0;
      lease.spent = 0;
      return decision.remaining;
    }
    // Units left from an earlier reservation are counted already: keep them.
    const carried = now < lease.until ? lease.units : 0;
    lease.units = carried + call.size - call.cost;
    lease.until = now + Math.min(this.#settings.maxMs, decision.retryMs);
    lease.remaining = decision.remaining;
    lease.resetAt = now + decision.retryMs;
    lease.size = call.size;
    lease.spent = call.cost;
    return decision.remaining + lease.units;
  }

  /** The store call for `key` failed: nothing was reserved. */
  failed(key: string): void {
    const lease = this.#leases.get(key);
    if (lease !== undefined) lease.pending = undefined;
  }

  /** Forgets `key`'s lease. */
  delete(key: string): void {
    this.#leases.delete(key);
  }
}
