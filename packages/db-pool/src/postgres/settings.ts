import { checkOption, silentLogger, wholeNumberRule } from '@fairmind/core';
import type { Registry } from 'prom-client';
import { invalid, invalidUse, OPTIONS_GOT } from '../errors/options.js';
import type { ConnectionPoolSettings } from '../pool/index.js';
import type { PostgresDatabaseOptions } from './index.js';

/** A whole-number rule with a lower bound, for the options here and per call. */
export const atLeast = (min: number) => wholeNumberRule({ min, noun: 'integer' });

/** {@link PostgresDatabaseOptions} checked, with their defaults filled in. */
export interface PostgresSettings {
  /** What the pool is given, apart from the metric hooks (see `openPool`). */
  readonly pool: ConnectionPoolSettings;
  readonly prepare: boolean;
  readonly registry: Registry | undefined;
  /** The `pool` label of the metrics. */
  readonly name: string;
  readonly replicas: {
    readonly urls: readonly string[];
    readonly maxLagMs: number;
    readonly checkIntervalMs: number;
  };
}

const POSTGRES_URL = /^postgres(?:ql)?:\/\//;

/** `replicas`: a list of PostgreSQL URLs, none repeated. */
function replicaUrls(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw invalid('replicas', `must be an array of postgres:// URLs, got ${typeof value}`);
  }
  for (const [index, url] of value.entries()) {
    if (typeof url !== 'string' || !POSTGRES_URL.test(url)) {
      throw invalid(
        `replicas[${index}]`,
        'must be a postgres:// or postgresql:// connection URL (credentials are not shown here)',
      );
    }
  }
  if (new Set(value).size !== value.length) {
    throw invalidUse('replicas lists the same URL twice: give each replica once');
  }
  return value as string[];
}

/** Checks the options in the order they are documented, so the first bad one is named. */
export function resolveSettings(options: PostgresDatabaseOptions): PostgresSettings {
  if (typeof options?.url !== 'string' || !POSTGRES_URL.test(options.url)) {
    throw invalidUse('url must be a postgres:// or postgresql:// connection URL');
  }
  // Each whole-number option, checked with its name, its default and its least value.
  const whole = (name: keyof PostgresDatabaseOptions, fallback: number, min: number) =>
    checkOption(OPTIONS_GOT, name, (options[name] as number | undefined) ?? fallback, atLeast(min));
  const size = whole('poolSize', 20, 1);
  const maxOverflow = whole('maxOverflow', 30, 0);
  const timeoutMs = whole('timeoutMs', 30_000, 1);
  const connectTimeoutMs = Math.min(whole('connectTimeoutMs', 10_000, 1), timeoutMs);
  const statementCacheSize = whole('statementCacheSize', 200, 1);
  const maxLifetimeMs = whole('maxLifetimeMs', 1_800_000, 1_000);
  const idleValidationMs = whole('idleValidationMs', 30_000, 0);
  const leakDetectionMs = whole('leakDetectionMs', 0, 0);
  const urls = replicaUrls(options.replicas);
  const maxLagMs = whole('maxReplicaLagMs', 2_000, 1);
  const checkIntervalMs = whole('replicaCheckIntervalMs', 500, 10);
  return {
    pool: {
      connectionString: options.url,
      size,
      maxOverflow,
      timeoutMs,
      connectTimeoutMs,
      applicationName: options.applicationName ?? 'fairmind',
      maxLifetimeMs,
      idleValidationMs,
      leakDetectionMs,
      statementCacheSize,
      ssl: options.ssl,
      logger: options.logger ?? silentLogger,
    },
    prepare: options.prepare ?? true,
    registry: options.registry,
    name: options.name ?? 'default',
    replicas: { urls, maxLagMs, checkIntervalMs },
  };
}
