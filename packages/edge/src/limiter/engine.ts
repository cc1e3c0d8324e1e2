import { FairmindError } from '@fairmind/core';
import type { CircuitBreaker } from '../circuit-breaker/index.js';
import { createMemoryStore } from '../memory-store/index.js';
import { PKG } from '../options/index.js';
import type { RateLimitStore, StoreDecision } from '../store/index.js';
import { DeadlineQueue } from './deadlines.js';
import { type DenyCache, rememberRefusal } from './deny-cache.js';
import type { DecisionSource, RateLimitResult } from './index.js';
import {
  LeaseBook,
  type LeaseSettings,
  type Reservation,
  type ReservationOutcome,
} from './lease.js';
import type { Counters } from './metrics.js';
import type { LimiterSettings, StoreHealth } from './settings.js';

/** What a {@link DecisionEngine} is built from: the checked options and their helpers. */
export interface EngineParts {
  readonly settings: LimiterSettings;
  readonly metrics: Counters;
  readonly health: StoreHealth;
  readonly breaker: CircuitBreaker | undefined;
  readonly denyCache: DenyCache | undefined;
  readonly lease: LeaseSettings | undefined;
}

/**
 * One store call: `size` units asked for, of which the request takes `cost`. With leases
 * every call is a {@link Reservation}.
 */
interface StoreCall {
  readonly size: number;
  readonly cost: number;
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown }).then === 'function';
}

/**
 * The decisions of one policy: the deny cache in front of the store, and the timeout,
 * circuit breaker and failure policy around it. A class rather than a closure of closures so
 * each step is a method of its own while the per-decision path still allocates nothing extra.
 */
export class DecisionEngine {
  readonly #settings: LimiterSettings;
  readonly #metrics: Counters;
  readonly #health: StoreHealth;
  readonly #breaker: CircuitBreaker | undefined;
  readonly #denyCache: DenyCache | undefined;
  readonly #local: RateLimitStore | undefined;
  readonly #deadlines: DeadlineQueue;
  readonly #leases: LeaseBook | undefined;

  constructor(parts: EngineParts) {
    const { settings } = parts;
    this.#settings = settings;
    this.#metrics = parts.metrics;
    this.#health = parts.health;
    this.#breaker = parts.breaker;
    this.#denyCache = parts.denyCache;
    this.#local =
      settings.failure === 'local'
        ? createMemoryStore({ algorithm: settings.store.algorithm })
        : undefined;
    this.#deadlines = new DeadlineQueue(settings.timeoutMs);
    // The memory store answers in the process already: a lease would save nothing. The
    // sliding log stamps each unit with the time it is counted, and a reserved unit spent
    // later would be stamped too early, letting the window admit more than the limit.
    const { store } = settings;
    this.#leases =
      parts.lease === undefined || store.kind === 'memory' || store.algorithm === 'sliding-log'
        ? undefined
        : new LeaseBook(parts.lease);
  }

  /** Counts `cost` units against `key`; see `RateLimiter.consume`. */
  readonly consume = (key: string, cost = 1): RateLimitResult | Promise<RateLimitResult> => {
    if (!Number.isInteger(cost) || cost < 1) {
      throw new FairmindError(
        'INVALID_COST',
        500,
        `[${PKG}] a rate-limit cost must be a whole number of at least 1, got ${String(cost)}: check the cost option.`,
      );
    }
    const storeKey = `${this.#settings.name}:${key}`;
    const denyCache = this.#denyCache;
    if (denyCache !== undefined) {
      const refusal = denyCache.get(storeKey);
      if (refusal !== undefined && cost >= refusal.cost) {
        const wait = refusal.until - performance.now();
        if (wait > 0) return this.#result(false, refusal.remaining, wait, 'cache');
      }
    }
    const leases = this.#leases;
    if (leases !== undefined) {
      const now = performance.now();
      const spent = leases.spend(storeKey, cost, now);
      if (spent !== undefined) {
        if (spent.renew) this.#renew(leases, storeKey, now);
        return this.#result(true, spent.remaining, spent.retryMs, 'lease');
      }
      // A reservation with units to spare for this request is on its way: wait for it.
      const joined = leases.join(storeKey, cost);
      if (joined !== undefined)
        return joined.then((outcome) => this.#joined(storeKey, cost, outcome));
    }
    if (this.#breaker !== undefined && !this.#breaker.allow()) {
      this.#metrics.error('circuit_open');
      return this.#fallback(storeKey, cost);
    }
    return this.#askStore(storeKey, cost);
  };

  /** Forgets `key` in the store, the deny cache and the local fallback. */
  async reset(key: string): Promise<void> {
    const storeKey = `${this.#settings.name}:${key}`;
    this.#denyCache?.delete(storeKey);
    this.#leases?.delete(storeKey);
    this.#local?.reset(storeKey);
    await this.#settings.store.reset(storeKey);
  }

  /** A request that waited on another's reservation: its units, or its own way on. */
  #joined(
    storeKey: string,
    cost: number,
    outcome: ReservationOutcome,
  ): RateLimitResult | Promise<RateLimitResult> {
    if (outcome === 'granted') {
      const spent = this.#leases?.spend(storeKey, cost, performance.now());
      if (spent !== undefined) return this.#result(true, spent.remaining, spent.retryMs, 'lease');
    }
    // The store just failed (and was counted once): the failure policy, with no second wait.
    if (outcome === 'failed') return this.#fallback(storeKey, cost);
    // Refused as a whole, reset meanwhile, or its units gone: this request alone may fit.
    return this.#askStore(storeKey, cost);
  }

  /**
   * Reserves `storeKey`'s next units while its lease still has some, with no request waiting
   * on the call: the store's answer adds to the lease, a refusal leaves it to run out, and a
   * failure counts as any store failure does (metrics, health, breaker).
   */
  #renew(leases: LeaseBook, storeKey: string, now: number): void {
    if (this.#breaker !== undefined && this.#breaker.state !== 'closed') return;
    const call = leases.renew(storeKey, now);
    if (call === undefined) return;
    const { store, limit, windowMs } = this.#settings;
    const fail = (error: unknown, reason: 'timeout' | 'error') => {
      this.#storeFailed(error, reason);
      leases.failed(call);
    };
    let answer: StoreDecision | Promise<StoreDecision>;
    try {
      answer = store.consume(storeKey, { limit, windowMs, cost: call.size });
    } catch (error) {
      fail(error, 'error');
      return;
    }
    const granted = (decision: StoreDecision) => {
      this.#breaker?.success();
      leases.granted(storeKey, call, decision);
    };
    if (isThenable(answer)) this.#whenAnswered(answer, granted, fail);
    else granted(answer);
  }

  #askStore(storeKey: string, cost: number): RateLimitResult | Promise<RateLimitResult> {
    const { store, limit, windowMs } = this.#settings;
    // Begun before the store is asked, so an answer that comes back at once finds it.
    const call: StoreCall = this.#leases?.begin(storeKey, cost, performance.now()) ?? {
      size: cost,
      cost,
    };
    let answer: StoreDecision | Promise<StoreDecision>;
    try {
      answer = store.consume(storeKey, { limit, windowMs, cost: call.size });
    } catch (error) {
      return this.#failed(storeKey, call, error, 'error');
    }
    if (!isThenable(answer)) {
      this.#breaker?.success();
      return this.#fromStore(storeKey, call, answer);
    }
    return this.#awaitStore(storeKey, call, answer);
  }

  /** Waits for the store's answer, or for the deadline and then the failure policy. */
  #awaitStore(
    storeKey: string,
    call: StoreCall,
    pending: PromiseLike<StoreDecision>,
  ): Promise<RateLimitResult> {
    return new Promise<RateLimitResult>((resolve) => {
      this.#whenAnswered(
        pending,
        (decision) => {
          this.#breaker?.success();
          resolve(this.#fromStore(storeKey, call, decision));
        },
        (error, reason) => resolve(this.#failed(storeKey, call, error, reason)),
      );
    });
  }

  /** The store's answer, or its failure: a rejection, or no answer within the timeout. */
  #whenAnswered(
    pending: PromiseLike<StoreDecision>,
    answered: (decision: StoreDecision) => void,
    failed: (error: unknown, reason: 'timeout' | 'error') => void,
  ): void {
    const waiter = this.#deadlines.add(() => {
      const { timeoutMs } = this.#settings;
      const error = new Error(
        `[${PKG}] the rate-limit store did not answer within ${timeoutMs} ms`,
      );
      failed(error, 'timeout');
    });
    pending.then(
      (decision) => {
        if (waiter.settled) return;
        waiter.settled = true;
        answered(decision);
      },
      (error: unknown) => {
        if (waiter.settled) return;
        waiter.settled = true;
        failed(error, 'error');
      },
    );
  }

  #result(
    allowed: boolean,
    remaining: number,
    retryMs: number,
    source: DecisionSource,
  ): RateLimitResult {
    if (allowed) this.#metrics.allowed(source);
    else this.#metrics.denied(source);
    const { name, limit, windowSeconds } = this.#settings;
    return {
      allowed,
      policy: name,
      limit,
      windowSeconds,
      remaining,
      resetSeconds: Math.max(allowed ? 0 : 1, Math.ceil(retryMs / 1000)),
      source,
    };
  }

  #fromStore(
    key: string,
    call: StoreCall,
    decision: StoreDecision,
  ): RateLimitResult | Promise<RateLimitResult> {
    const { cost } = call;
    let { remaining } = decision;
    if (this.#leases !== undefined) {
      remaining = this.#leases.granted(key, call as Reservation, decision);
      // A reservation larger than the request did not fit: ask for the request alone.
      if (!decision.allowed && call.size > cost) return this.#askStore(key, cost);
    }
    if (!decision.allowed && this.#denyCache !== undefined) {
      rememberRefusal(this.#denyCache, key, cost, decision);
    }
    return this.#result(decision.allowed, remaining, decision.retryMs, 'store');
  }

  #fallback(key: string, cost: number): RateLimitResult {
    const { failure, limit, windowMs } = this.#settings;
    if (failure === 'open') return this.#result(true, limit, windowMs, 'open');
    if (failure === 'closed') return this.#result(false, 0, 1000, 'closed');
    const decision = (this.#local as RateLimitStore).consume(key, {
      limit,
      windowMs,
      cost,
    }) as StoreDecision;
    return this.#result(decision.allowed, decision.remaining, decision.retryMs, 'local');
  }

  #failed(
    key: string,
    call: StoreCall,
    error: unknown,
    reason: 'timeout' | 'error',
  ): RateLimitResult {
    this.#storeFailed(error, reason);
    if (this.#leases !== undefined) this.#leases.failed(call as Reservation);
    return this.#fallback(key, call.cost);
  }

  #storeFailed(error: unknown, reason: 'timeout' | 'error'): void {
    this.#health.lastError = error;
    this.#metrics.error(reason);
    this.#settings.logger.debug(
      { policy: this.#settings.name, err: error },
      `[${PKG}] rate-limit store call failed (${reason})`,
    );
    this.#breaker?.failure();
  }
}
