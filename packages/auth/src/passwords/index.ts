import { availableParallelism } from 'node:os';
import { checkOption, type Logger, silentLogger, wholeNumberRule } from '@fairmind/core';
import { gauge, histogram } from '@fairmind/core/metrics';
import { PASSWORD_BYTE_LIMITS } from '@fairmind/core/rules';
import type { Registry } from 'prom-client';
import { invalid, validationFailed } from '../errors/index.js';
import { OPTIONS } from '../errors/options.js';
import { WorkerPool, type WorkerPoolSettings } from './pool.js';

// The limits are core's (@fairmind/core/rules), where loadConfig() reads them too for
// FAIRMIND_ADMIN_PASSWORD: core cannot import this package, so the rule lives below both.
/** bcrypt reads at most 72 bytes; longer passwords are refused instead of silently cut. */
export const MAX_PASSWORD_BYTES = PASSWORD_BYTE_LIMITS.max;
/** HTTP-API.md's lower bound for a new password. */
export const MIN_PASSWORD_BYTES = PASSWORD_BYTE_LIMITS.min;
/** The cost of new hashes unless configured. */
export const DEFAULT_BCRYPT_COST = 12;
const MIN_PRODUCTION_COST = 10;
// $2a$, $2b$ and $2y$ are the same algorithm for every password bcryptjs accepts; $2$ and
// $2x$ (the buggy pre-2011 crypt_blowfish variant) are not, and other schemes are not bcrypt.
const BCRYPT_HASH = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** Options of {@link createPasswordHasher}. */
export interface PasswordHasherOptions {
  /**
   * bcrypt cost (log2 rounds) of new hashes, 4 to 31.
   * @default 12
   */
  cost?: number | undefined;
  /**
   * Refuse a cost under 10.
   * @default process.env.NODE_ENV === 'production'
   */
  production?: boolean | undefined;
  /**
   * Worker threads hashing in parallel. Each holds one CPU while it hashes.
   * @default Math.max(1, Math.min(2, os.availableParallelism() - 1))
   */
  workers?: number | undefined;
  /**
   * Jobs waiting for a worker before new ones are refused with a 503 (a login flood must not
   * queue without bound).
   * @default 1000
   */
  maxQueue?: number | undefined;
  /** @default silentLogger */
  logger?: Logger | undefined;
  /** prom-client registry for `fairmind_auth_password_seconds` and the queue gauge. */
  registry?: Registry | undefined;
}

/** bcrypt off the main thread. */
export interface PasswordHasher {
  /** The cost of new hashes. */
  readonly cost: number;
  /** A new `$2b$` hash. Refuses passwords under 8 or over 72 bytes of UTF-8 (400). */
  hash(password: string): Promise<string>;
  /**
   * Whether `password` matches `hash`. `$2a$`, `$2b$` and `$2y$` verify; any other string is
   * `false` without throwing. A password over 72 bytes is `false` (after the time a compare
   * takes), since no hash made here can match it.
   */
  verify(password: string, hash: string): Promise<boolean>;
  /**
   * Spends the time of a wrong-password check and resolves `false`: for a login with an
   * unknown email, so it cannot be told apart by timing.
   */
  verifyDummy(password: string): Promise<false>;
  /** Whether the hash should be replaced at the next login: malformed, or its cost is lower. */
  needsRehash(hash: string): boolean;
  /** Jobs waiting for a worker. */
  readonly queued: number;
  /** Ends the workers; jobs still waiting are rejected. */
  close(): Promise<void>;
}

/** The cost of a bcrypt hash, or `undefined` when the text is not one this module verifies. */
export function bcryptCost(hash: string): number | undefined {
  const match = typeof hash === 'string' ? BCRYPT_HASH.exec(hash) : null;
  return match ? Number(match[1]) : undefined;
}

/** The UTF-8 length of a password: what bcrypt counts. */
export function passwordBytes(password: string): number {
  return Buffer.byteLength(password, 'utf8');
}

/** Throws a 400 when a new password is not 8 to 72 bytes of UTF-8 (the password never appears). */
export function checkNewPassword(password: unknown): asserts password is string {
  if (typeof password !== 'string') throw validationFailed('the password must be a string');
  const bytes = passwordBytes(password);
  if (bytes < MIN_PASSWORD_BYTES || bytes > MAX_PASSWORD_BYTES) {
    throw validationFailed(
      `the password must be ${MIN_PASSWORD_BYTES} to ${MAX_PASSWORD_BYTES} bytes of UTF-8 (it is ${bytes}); ` +
        'bcrypt ignores everything past byte 72, so a longer one is refused rather than truncated',
    );
  }
}

/**
 * bcrypt (bcryptjs) in a small pool of worker threads, so a login's quarter second of hashing
 * never stalls the requests around it. Workers start on first use and do not keep the
 * process alive while idle.
 *
 * @example
 * ```ts
 * const passwords = createPasswordHasher({ cost: 12 });
 * const hash = await passwords.hash('correct horse battery');
 * await passwords.verify('correct horse battery', hash); // true
 * passwords.needsRehash('$2b$10$...'); // true: cost 10 < 12
 * ```
 */
export function createPasswordHasher(options: PasswordHasherOptions = {}): PasswordHasher {
  const { cost, ...settings } = hasherSettings(options);
  const pool = new WorkerPool(settings);
  let dummy: Promise<string> | undefined;

  function dummyHash(): Promise<string> {
    // One hash of the configured cost, made once: comparing against it costs what a real
    // wrong-password check costs.
    dummy ??= pool.run({ op: 'hash', password: 'fairmind-dummy-password', cost }).then(String);
    dummy.catch(() => {
      dummy = undefined;
    });
    return dummy;
  }

  async function verifyDummy(password: string): Promise<false> {
    const hash = await dummyHash();
    // A short stand-in keeps the work identical when the password itself could not be used.
    const usable = typeof password === 'string' && passwordBytes(password) <= MAX_PASSWORD_BYTES;
    await pool.run({ op: 'compare', password: usable ? password : '', hash });
    return false;
  }

  return {
    cost,
    get queued() {
      return pool.queued;
    },
    async hash(password) {
      checkNewPassword(password);
      return String(await pool.run({ op: 'hash', password, cost }));
    },
    async verify(password, hash) {
      // Made with the first real check, so the first unknown-email login is not the one
      // that pays for the dummy hash (and shows it by taking twice as long).
      if (dummy === undefined) dummyHash().catch(() => {});
      if (typeof password !== 'string') return false;
      if (passwordBytes(password) > MAX_PASSWORD_BYTES) return verifyDummy(password);
      if (bcryptCost(hash) === undefined) return false;
      return (await pool.run({ op: 'compare', password, hash })) === true;
    },
    verifyDummy,
    needsRehash(hash) {
      const stored = bcryptCost(hash);
      return stored === undefined || stored < cost;
    },
    close: () => pool.close(),
  };
}

/** The checked options: the cost of new hashes and what the worker pool runs with. */
function hasherSettings(options: PasswordHasherOptions): WorkerPoolSettings & { cost: number } {
  const cost = checkOption(
    OPTIONS,
    'cost',
    options.cost ?? DEFAULT_BCRYPT_COST,
    wholeNumberRule({ min: 4, max: 31, note: ' (bcrypt log2 rounds)' }),
  );
  const production = options.production ?? process.env['NODE_ENV'] === 'production';
  if (production && cost < MIN_PRODUCTION_COST) {
    throw invalid(
      'cost',
      `is ${cost}; production needs at least ${MIN_PRODUCTION_COST} (12 is the default)`,
    );
  }
  // One core stays with the event loop: on a two-core machine two hashing threads would starve it.
  const size = checkOption(
    OPTIONS,
    'workers',
    options.workers ?? Math.max(1, Math.min(2, availableParallelism() - 1)),
    wholeNumberRule({ min: 1, max: 64 }),
  );
  const maxQueue = checkOption(
    OPTIONS,
    'maxQueue',
    options.maxQueue ?? 1000,
    wholeNumberRule({ min: 0, open: 'or more' }),
  );
  const logger = (options.logger ?? silentLogger).child({ component: '@fairmind/auth' });
  const registry = options.registry;
  return {
    cost,
    size,
    maxQueue,
    logger,
    duration: registry
      ? histogram(registry, {
          name: 'fairmind_auth_password_seconds',
          help: 'Time to hash or verify a password in the worker pool, queueing included.',
          labelNames: ['op'],
          buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        })
      : undefined,
    queueGauge: registry
      ? gauge(registry, {
          name: 'fairmind_auth_password_queue',
          help: 'Password jobs waiting for a worker.',
        })
      : undefined,
  };
}
