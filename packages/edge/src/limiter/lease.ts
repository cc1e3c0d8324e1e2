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
 * How a reservation ended, for the requests that waited on it: `granted` (their units are
 * there), `retry` (refused as a whole, or the key was reset meanwhile: ask for your own
 * cost), `failed` (the store failed or timed out).
 */
export type ReservationOutcome = 'granted' | 'retry' | 'failed';

/**
 * One store call of a leasing key: `size` units asked for, `cost` of them the request's own.
 * Requests of the key that find no units meanwhile claim part of the rest and wait for it;
 * one that would not fit asks the store itself rather than queue behind it.
 */
export class Reservation {
  readonly size: number;
  readonly cost: number;
  /** The lease it fills: a reset or an eviction replaces the key's lease, never this one. */
  readonly lease: Lease;
  /** performance.now() when the store was asked. */
  readonly askedAt = performance.now();
  /** Resolves once the store answered or failed; never rejects. */
  readonly settled: Promise<ReservationOutcome>;
  #claimed = 0;
  #settle: (outcome: ReservationOutcome) => void = () => {};

  constructor(size: number, cost: number, lease: Lease) {
    this.size = size;
    this.cost = cost;
    this.lease = lease;
    this.settled = new Promise((resolve) => {
      this.#settle = resolve;
    });
  }

  /** Claims `cost` of the units beyond the request's own; false when not that many are left. */
  claim(cost: number): boolean {
    if (this.size - this.cost - this.#claimed < cost) return false;
    this.#claimed += cost;
    return true;
  }

  settle(outcome: ReservationOutcome): void {
    this.#settle(outcome);
  }
}

/**
 * A key's lease: units the store has already counted, which this instance hands out without
 * asking it again until they run out or `until` passes.
 */
export interface Lease {
  /** Counted by the store and not handed out yet. */
  units: number;
  /** performance.now() after which the units are not spent any more. */
  until: number;
  /** The store's `remaining` when the units were reserved. */
  remaining: number;
  /** performance.now() at which the store said its window moves on. */
  resetAt: number;
  /** Units the last store call asked for. */
  size: number;
  /** Units handed out since the last reservation, to size the next one on expiry. */
  spent: number;
  /** performance.now() at which the latest reservation was granted. */
  grantedAt: number;
  /** How long the store took to answer the latest reservation, in ms. */
  roundTripMs: number;
  /** The latest store call in flight for this key, which later requests may join. */
  pending: Reservation | undefined;
}

/** What a request spent from a lease, for its result. */
export interface LeaseSpend {
  readonly remaining: number;
  readonly retryMs: number;
  /**
   * The lease is half spent, no reservation is on its way, and at the pace since its grant
   * it would run out before it expires: reserve the next units now ({@link LeaseBook.begin}
   * with cost 0), so that they are there before these are gone and no request waits for them.
   */
  readonly renew: boolean;
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
 * `maxUnits` nor an eighth of what the store said was left. Once half of a lease is spent
 * and the pace since its grant would spend the rest before it expires, the next reservation
 * is asked for while the rest is handed out (a renewal, sized to that pace), so a busy key's
 * requests find units in the process rather than wait for the store. Units reserved and not
 * spent are never handed out: the shared count errs towards refusing, never towards
 * admitting more than the limit.
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
    // Half spent, or at the pace since the grant (spent / elapsed) gone within two of the
    // store's round trips; and what is left and one more request's worth would be gone before
    // the lease expires.
    const elapsed = now - lease.grantedAt;
    const renew =
      lease.pending === undefined &&
      (lease.units * 2 <= lease.size ||
        lease.units * elapsed < 2 * lease.roundTripMs * lease.spent) &&
      (lease.units + cost) * elapsed < (lease.until - now) * lease.spent;
    return { remaining: lease.remaining + lease.units, retryMs: lease.resetAt - now, renew };
  }

  /**
   * The outcome of `key`'s reservation in flight, when it has `cost` units to spare for
   * this request (which it then holds for it); `undefined` when the request must ask itself.
   */
  join(key: string, cost: number): Promise<ReservationOutcome> | undefined {
    const pending = this.#leases.get(key)?.pending;
    return pending?.claim(cost) === true ? pending.settled : undefined;
  }

  /**
   * Starts a renewal of `key`'s lease, a store call no request waits on (cost 0), unless
   * there is no lease or what is left in the store is too little to share.
   */
  renew(key: string, now: number): Reservation | undefined {
    const lease = this.#leases.get(key);
    if (lease === undefined || lease.pending !== undefined) return undefined;
    // Doubling as #size does while the key outruns its leases, but never more than the pace
    // since the grant would spend in a lease's time: units reserved and not spent are lost.
    const pace = Math.ceil((lease.spent * this.#settings.maxMs) / (now - lease.grantedAt));
    const size = Math.min(this.#size(lease, 0, now), Math.max(1, pace));
    if (size < 1) return undefined;
    const reservation = new Reservation(size, 0, lease);
    lease.pending = reservation;
    return reservation;
  }

  /** Starts the store call of a request of `cost` against `key`: how many units it asks. */
  begin(key: string, cost: number, now: number): Reservation {
    let lease = this.#leases.get(key);
    const size = lease === undefined ? cost : this.#size(lease, cost, now);
    if (lease === undefined) {
      lease = {
        units: 0,
        until: 0,
        remaining: 0,
        resetAt: 0,
        size: 0,
        spent: 0,
        grantedAt: 0,
        roundTripMs: 0,
        pending: undefined,
      };
      this.#leases.set(key, lease);
    }
    const reservation = new Reservation(size, cost, lease);
    lease.pending = reservation;
    return reservation;
  }

  #size(lease: Lease, cost: number, now: number): number {
    // Used up in time, or a reservation still on its way is full: the traffic outruns the
    // reservations, so double the latest. Expired: size it to the traffic it saw.
    const latest = Math.max(lease.size, lease.pending?.size ?? 0);
    const wanted = now < lease.until || lease.pending !== undefined ? latest * 2 : lease.spent;
    const share = Math.floor(lease.remaining / SHARE_OF_REMAINING);
    return Math.max(cost, Math.min(wanted, this.#settings.maxUnits, share));
  }

  /**
   * Records the store's answer to `reservation` and returns what the request's result
   * reports as remaining. An answer to a reservation the key no longer waits for (reset or
   * evicted meanwhile) adds nothing: its units are lost rather than risk a count past reset.
   */
  granted(key: string, reservation: Reservation, decision: StoreDecision): number {
    const { lease } = reservation;
    if (lease.pending === reservation) lease.pending = undefined;
    if (this.#leases.get(key) !== lease) {
      reservation.settle('retry');
      return decision.remaining;
    }
    const now = performance.now();
    if (!decision.allowed) {
      // Refused: the key is at its limit, so the next call asks for its own cost alone. A
      // renewal (no request of its own) was asked for while units were left: they were
      // counted, so they stay until they run out or expire.
      if (reservation.cost > 0 || now >= lease.until) {
        lease.units = 0;
        lease.until = 0;
      }
      lease.size = 0;
      lease.spent = 0;
      reservation.settle('retry');
      return decision.remaining;
    }
    // Units left from an earlier reservation are counted already: keep them.
    const carried = now < lease.until ? lease.units : 0;
    lease.units = carried + reservation.size - reservation.cost;
    lease.until = now + Math.min(this.#settings.maxMs, decision.retryMs);
    lease.remaining = decision.remaining;
    lease.resetAt = now + decision.retryMs;
    lease.size = reservation.size;
    lease.spent = reservation.cost;
    lease.grantedAt = now;
    lease.roundTripMs = now - reservation.askedAt;
    reservation.settle('granted');
    return decision.remaining + lease.units;
  }

  /** The store call of `reservation` failed or timed out: nothing was reserved. */
  failed(reservation: Reservation): void {
    const { lease } = reservation;
    if (lease.pending === reservation) lease.pending = undefined;
    reservation.settle('failed');
  }

  /** Forgets `key`'s lease. */
  delete(key: string): void {
    this.#leases.delete(key);
  }
}
