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
  const size = checkOption(OPTIONS_GOT, 'poolSize', options.poolSize ?? 20, atLeast(1));
  const maxOverflow = checkOption(
    OPTIONS_GOT,
    'maxOverflow',
    options.maxOverflow ?? 30,
    atLeast(0),
  );
  const timeoutMs = checkOption(OPTIONS_GOT, 'timeoutMs', options.timeoutMs ?? 30_000, atLeast(1));
  const connectTimeoutMs = Math.min(
    checkOption(OPTIONS_GOT, 'connectTimeoutMs', options.connectTimeoutMs ?? 10_000, atLeast(1)),
    timeoutMs,
  );
  const statementCacheSize = checkOption(
    OPTIONS_GOT,
    'statementCacheSize',
    options.statementCacheSize ?? 200,
    atLeast(1),
  );
  const maxLifetimeMs = checkOption(
    OPTIONS_GOT,
    'maxLifetimeMs',
    options.maxLifetimeMs ?? 1_800_000,
    atLeast(1_000),
  );
  const idleValidationMs = checkOption(
    OPTIONS_GOT,
    'idleValidationMs',
    options.idleValidationMs ?? 30_000,
    atLeast(0),
  );
  const leakDetectionMs = checkOption(
    OPTIONS_GOT,
    'leakDetectionMs',
    options.leakDetectionMs ?? 0,
    atLeast(0),
  );
  const urls = replicaUrls(options.replicas);
  const maxLagMs = checkOption(
    OPTIONS_GOT,
    'maxReplicaLagMs',
    options.maxReplicaLagMs ?? 2_000,
    atLeast(1),
  );
  const checkIntervalMs = checkOption(
    OPTIONS_GOT,
    'replicaCheckIntervalMs',
    options.replicaCheckIntervalMs ?? 500,
    atLeast(10),
  );
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
