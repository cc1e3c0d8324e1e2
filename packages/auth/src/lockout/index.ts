import { checkOption, FairmindError, wholeNumberRule } from '@fairmind/core';
import { invalid, PREFIX, storeUnavailable } from '../errors/index.js';
import { OPTIONS } from '../errors/options.js';

/** A failure counter as a store keeps it. */
export interface AttemptRecord {
  /** Failures in a row (reset by success or by `windowMs` without a failure). */
  readonly count: number;
  /** When the last failure happened, epoch milliseconds. */
  readonly lastFailureAt: number;
}

/**
 * Where failure counters live. `fail` must count atomically (concurrent failures each count)
 * and keep the counter `windowMs` after the last failure.
 */
export interface AttemptStore {
  /** Counts a failure at `now` (ms) and returns the new counter. */
  fail(key: string, windowMs: number, now: number): Promise<AttemptRecord>;
  /** The counter, or `null` when there is none. */
  get(key: string): Promise<AttemptRecord | null>;
  /** Forgets the counter (a successful login). */
  reset(key: string): Promise<void>;
}

/** Options of {@link createMemoryAttemptStore}. */
export interface MemoryAttemptStoreOptions {
  /** @default Date.now */
  now?: (() => number) | undefined;
}

/**
 * Failure counters in this process's memory, for development and single-instance use. Use
 * the Redis store when several instances share the limits.
 *
 * @example
 * ```ts
 * const throttle = createLoginThrottle({ store: createMemoryAttemptStore() });
 * ```
 */
export function createMemoryAttemptStore(options: MemoryAttemptStoreOptions = {}): AttemptStore {
  const now = options.now ?? Date.now;
  const records = new Map<string, { count: number; lastFailureAt: number; expiresAt: number }>();
  let lastSweep = now();
  const current = (key: string) => {
    const record = records.get(key);
    if (record === undefined) return undefined;
    if (record.expiresAt > now()) return record;
    records.delete(key);
    return undefined;
  };
  return {
    async fail(key, windowMs, at) {
      if (at - lastSweep > 60_000) {
        lastSweep = at;
        for (const [name, record] of records) if (record.expiresAt <= at) records.delete(name);
      }
      const count = (current(key)?.count ?? 0) + 1;
      records.set(key, { count, lastFailureAt: at, expiresAt: at + windowMs });
      return { count, lastFailureAt: at };
    },
    async get(key) {
      const record = current(key);
      return record === undefined
        ? null
        : { count: record.count, lastFailureAt: record.lastFailureAt };
    },
    async reset(key) {
      records.delete(key);
    },
  };
}

/** The limits of one dimension (account or IP). */
export interface LockoutPolicy {
  /** Failures allowed before a lockout starts. */
  maxFailures: number;
  /** A counter is forgotten this long after its last failure. */
  windowMs: number;
  /** The first lockout; each further failure doubles it. */
  baseLockoutMs: number;
  /** The longest lockout. */
  maxLockoutMs: number;
}

/** Options of {@link createLoginThrottle}. */
export interface LoginThrottleOptions {
  store: AttemptStore;
  /**
   * Per account (email): after 5 failures in a row, locked for 30 s, doubling with each
   * further failure up to 1 hour; forgotten a day after the last failure or at a success.
   * @default { maxFailures: 5, windowMs: 86_400_000, baseLockoutMs: 30_000, maxLockoutMs: 3_600_000 }
   */
  account?: Partial<LockoutPolicy> | undefined;
  /**
   * Per client IP: 20 failures within 15 minutes, then locked for the rest of the window,
   * doubling past that; successes do not reset it (one IP may try many accounts).
   * @default { maxFailures: 20, windowMs: 900_000, baseLockoutMs: 900_000, maxLockoutMs: 3_600_000 }
   */
  ip?: Partial<LockoutPolicy> | undefined;
  /** @default Date.now */
  now?: (() => number) | undefined;
}

/** Brute-force protection for a login form. */
export interface LoginThrottle {
  /**
   * Throws 429 `RATE_LIMITED` with `Retry-After` when the account or the IP is locked out;
   * call it before checking the password. Resolves with what was locked, for the audit.
   */
  check(account: string, ip: string | undefined): Promise<void>;
  /** Counts a failure for both; resolves with the lockout it started, if any (ms from now). */
  fail(account: string, ip: string | undefined): Promise<{ lockedForMs: number }>;
  /** A success: resets the account's counter (not the IP's). */
  succeed(account: string): Promise<void>;
}

const ACCOUNT_DEFAULTS: LockoutPolicy = {
  maxFailures: 5,
  windowMs: 86_400_000,
  baseLockoutMs: 30_000,
  maxLockoutMs: 3_600_000,
};
const IP_DEFAULTS: LockoutPolicy = {
  maxFailures: 20,
  windowMs: 900_000,
  baseLockoutMs: 900_000,
  maxLockoutMs: 3_600_000,
};

const AT_LEAST_ONE = wholeNumberRule({ min: 1, open: 'or more' });

function policy(name: string, given: Partial<LockoutPolicy> | undefined, defaults: LockoutPolicy) {
  // A key given as undefined keeps its default, as an absent one does.
  const merged = { ...defaults };
  for (const [key, value] of Object.entries(given ?? {})) {
    if (value !== undefined) merged[key as keyof LockoutPolicy] = value;
  }
  for (const [key, value] of Object.entries(merged)) {
    checkOption(OPTIONS, `${name}.${key}`, value, AT_LEAST_ONE);
  }
  if (merged.maxLockoutMs < merged.baseLockoutMs) {
    throw invalid(`${name}.maxLockoutMs`, 'must be at least baseLockoutMs');
  }
  return merged;
}

/** How long a counter locks, from its last failure: 0 below the limit, then doubling. */
export function lockoutMs(record: AttemptRecord | null, limits: LockoutPolicy): number {
  if (record === null || record.count < limits.maxFailures) return 0;
  const doublings = Math.min(record.count - limits.maxFailures, 30);
  return Math.min(limits.baseLockoutMs * 2 ** doublings, limits.maxLockoutMs);
}

/**
 * Failure counters per account and per client IP with exponential lockout (HTTP-API.md:
 * `/auth/login`). Account keys are lower-cased, so case variants of one email share a counter.
 *
 * @example
 * ```ts
 * const throttle = createLoginThrottle({ store: createMemoryAttemptStore() });
 * await throttle.check(email, ip); // 429 while locked
 * if (!ok) await throttle.fail(email, ip); else await throttle.succeed(email);
 * ```
 */
export function createLoginThrottle(options: LoginThrottleOptions): LoginThrottle {
  if (typeof options?.store?.fail !== 'function') {
    throw invalid('store', 'must be an AttemptStore (createMemoryAttemptStore or the Redis one)');
  }
  const store = options.store;
  const account = policy('account', options.account, ACCOUNT_DEFAULTS);
  const ip = policy('ip', options.ip, IP_DEFAULTS);
  const now = options.now ?? Date.now;
  const accountKey = (name: string) => `a:${name.trim().toLowerCase()}`;
  const ipKey = (address: string) => `i:${address}`;

  const remaining = (record: AttemptRecord | null, limits: LockoutPolicy, at: number) => {
    const span = lockoutMs(record, limits);
    return span === 0 || record === null ? 0 : Math.max(0, record.lastFailureAt + span - at);
  };

  // A store that cannot be reached (Redis down) must fail the login closed with a 503, not
  // leak the driver's error as a 500: without the counters, brute force would be unchecked.
  const reach = <T>(work: () => Promise<T>): Promise<T> =>
    Promise.resolve()
      .then(work)
      .catch((error: unknown) => {
        throw error instanceof FairmindError
          ? error
          : storeUnavailable('login attempt store', error);
      });

  return {
    async check(name, address) {
      const [byAccount, byIp] = await reach(() =>
        Promise.all([
          store.get(accountKey(name)),
          address === undefined ? Promise.resolve(null) : store.get(ipKey(address)),
        ]),
      );
      const at = now();
      const wait = Math.max(remaining(byAccount, account, at), remaining(byIp, ip, at));
      if (wait > 0) {
        const seconds = Math.ceil(wait / 1000);
        throw new FairmindError(
          'RATE_LIMITED',
          429,
          `${PREFIX} too many failed sign-ins: try again in ${seconds} s`,
          { headers: { 'Retry-After': String(seconds) }, details: { retryAfterSeconds: seconds } },
        );
      }
    },
    async fail(name, address) {
      const at = now();
      const [byAccount, byIp] = await reach(() =>
        Promise.all([
          store.fail(accountKey(name), account.windowMs, at),
          address === undefined
            ? Promise.resolve(null)
            : store.fail(ipKey(address), ip.windowMs, at),
        ]),
      );
      return { lockedForMs: Math.max(lockoutMs(byAccount, account), lockoutMs(byIp, ip)) };
    },
    async succeed(name) {
      await reach(() => store.reset(accountKey(name)));
    },
  };
}
