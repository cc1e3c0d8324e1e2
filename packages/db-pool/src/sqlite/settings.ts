import { resolve } from 'node:path';
import {
  checkOption,
  durationMsRule,
  type Logger,
  optionOrDefault,
  silentLogger,
  wholeNumberRule,
} from '@fairmind/core';
import type { Registry } from 'prom-client';
import type { TransactionOptions } from '../database/index.js';
import { invalid, OPTIONS } from '../errors/options.js';

export { invalid };

/** Options of {@link createSqliteDatabase}. */
export interface SqliteDatabaseOptions {
  /**
   * Where the database lives: `'sqlite:./data/app.db'` (relative to the working directory),
   * `'sqlite:///abs/path.db'`, `'sqlite::memory:'`, or a bare `'sqlite:'` for the default
   * file. The parent directory of a file is created when missing.
   * @default 'sqlite:./data/fairmind.db'
   */
  url?: string | undefined;
  /**
   * How long a statement waits for another process or connection to release its lock on the
   * file before failing with `SQLITE_BUSY`.
   * @default 5000
   */
  busyTimeoutMs?: number | undefined;
  /** @default silentLogger from @fairmind/core */
  logger?: Logger | undefined;
  /**
   * prom-client Registry for the pool metrics (the same names as on PostgreSQL, labelled
   * `driver="sqlite"`); none when unset.
   */
  registry?: Registry | undefined;
  /**
   * The `pool` label of the metrics.
   * @default 'default'
   */
  name?: string | undefined;
  /**
   * Prepared statements kept, by text, least recently used evicted first; `0` turns the cache
   * off.
   * @default 200
   */
  statementCacheSize?: number | undefined;
}

const DEFAULT_URL = 'sqlite:./data/fairmind.db';
const DEFAULT_BUSY_TIMEOUT_MS = 5000;
const DEFAULT_STATEMENT_CACHE_SIZE = 200;
export const DEFAULT_HEALTH_TIMEOUT_MS = 2000;
// setTimeout's ceiling; larger values fire at once.
export const MAX_TIMEOUT_MS = 2_147_483_647;
const MAX_RETRIES = 100;

/** A timeout setTimeout can wait for: whole milliseconds up to its ceiling. */
export const TIMEOUT_MS = durationMsRule({ min: 0, max: MAX_TIMEOUT_MS });
const RETRIES = wholeNumberRule({ min: 0, max: MAX_RETRIES });

/**
 * The file path (or `':memory:'`) a `sqlite:` URL names, relative paths left relative.
 * @internal
 */
export function sqlitePathFromUrl(url: string): string {
  if (!url.toLowerCase().startsWith('sqlite:')) {
    // Only the scheme is quoted: a postgres:// URL would carry a password.
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? 'no scheme';
    throw invalid(
      'options.url',
      `must be a sqlite: URL such as 'sqlite:./data/app.db', 'sqlite:///abs/app.db' or 'sqlite::memory:' (got ${scheme}); use createDatabase() for postgres:// URLs`,
    );
  }
  let rest = url.slice('sqlite:'.length);
  // 'sqlite:///abs' and 'sqlite://./rel' carry an empty authority, as in file: URLs.
  if (rest.startsWith('//')) rest = rest.slice(2);
  if (rest === '') return sqlitePathFromUrl(DEFAULT_URL);
  return rest;
}

export interface Settings {
  path: string;
  memory: boolean;
  busyTimeoutMs: number;
  logger: Logger;
  registry: Registry | undefined;
  name: string;
  statementCacheSize: number;
}

export function resolveSettings(options: SqliteDatabaseOptions): Settings {
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', 'must be an object such as { url: "sqlite:./data/app.db" }');
  }
  const url = options.url ?? DEFAULT_URL;
  if (typeof url !== 'string') throw invalid('options.url', 'must be a string');
  const path = sqlitePathFromUrl(url);
  const memory = path === ':memory:';

  const busyTimeoutMs = checkOption(
    OPTIONS,
    'options.busyTimeoutMs',
    options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
    TIMEOUT_MS,
  );
  const statementCacheSize = checkOption(
    OPTIONS,
    'options.statementCacheSize',
    options.statementCacheSize ?? DEFAULT_STATEMENT_CACHE_SIZE,
    wholeNumberRule({ min: 0, open: 'or more', note: ' (0 turns the cache off)' }),
  );
  const logger = options.logger ?? silentLogger;
  const methods = ['error', 'warn', 'info', 'debug', 'child'] as const;
  if (
    typeof logger !== 'object' ||
    logger === null ||
    methods.some((m) => typeof logger[m] !== 'function')
  ) {
    throw invalid(
      'options.logger',
      'must have error, warn, info, debug and child methods (a pino logger does)',
    );
  }
  const registry = options.registry;
  if (registry !== undefined && typeof registry?.getSingleMetric !== 'function') {
    throw invalid(
      'options.registry',
      'must be a prom-client Registry (createMetricsRegistry() from @fairmind/core/metrics)',
    );
  }
  return {
    path: memory ? path : resolve(path),
    memory,
    busyTimeoutMs,
    logger: logger.child({ component: '@fairmind/db-pool', driver: 'sqlite' }),
    registry,
    name: options.name ?? 'default',
    statementCacheSize,
  };
}

export interface TransactionSettings {
  mode: 'DEFERRED' | 'IMMEDIATE' | 'EXCLUSIVE';
  readOnly: boolean;
  retries: number;
}

const ISOLATION_LEVELS: readonly unknown[] = ['read committed', 'repeatable read', 'serializable'];
const SQLITE_MODES: readonly unknown[] = ['deferred', 'immediate', 'exclusive'];

// Validated on every call, as the options differ per call; the checks are a few comparisons.
export function resolveTransactionSettings(
  options: TransactionOptions | undefined,
): TransactionSettings {
  if (options === undefined) return { mode: 'DEFERRED', readOnly: false, retries: 0 };
  if (typeof options !== 'object' || options === null) {
    throw invalid('transaction options', 'must be an object');
  }
  // isolation and statementTimeoutMs are accepted so that code written for PostgreSQL runs
  // here: SQLite transactions are always serializable and have no statement timeout.
  if (options.isolation !== undefined && !ISOLATION_LEVELS.includes(options.isolation)) {
    throw invalid('transaction option isolation', `must be one of ${ISOLATION_LEVELS.join(', ')}`);
  }
  if (options.statementTimeoutMs !== undefined && !TIMEOUT_MS.accepts(options.statementTimeoutMs)) {
    throw invalid(
      'transaction option statementTimeoutMs',
      'must be a whole number of milliseconds',
    );
  }
  if (options.readOnly !== undefined && typeof options.readOnly !== 'boolean') {
    throw invalid('transaction option readOnly', 'must be a boolean');
  }
  optionOrDefault(OPTIONS, {
    name: 'transaction option retries',
    value: options.retries,
    rule: RETRIES,
    fallback: undefined,
  });
  if (options.sqliteMode !== undefined && !SQLITE_MODES.includes(options.sqliteMode)) {
    throw invalid('transaction option sqliteMode', `must be one of ${SQLITE_MODES.join(', ')}`);
  }
  return {
    mode: (options.sqliteMode ?? 'deferred').toUpperCase() as TransactionSettings['mode'],
    readOnly: options.readOnly ?? false,
    retries: options.retries ?? 0,
  };
}
