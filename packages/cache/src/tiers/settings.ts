import { randomUUID } from 'node:crypto';
import { checkOption, type Logger, silentLogger, wholeNumberRule } from '@fairmind/core';
import type { BreakerOptions, CacheOptions, L1Options } from '../cache/index.js';
import { toMs } from '../duration/index.js';
import { invalidOptions, OPTIONS } from '../errors/index.js';
import type { MemorySettings } from '../memory/index.js';

/** The options of `createCache`, checked and resolved once: what every call reads. */
export interface Settings {
  namespace: string;
  ttlMs: number;
  graceMs: number;
  jitter: number;
  softTimeoutMs: number | undefined;
  earlyRefresh: number | undefined;
  l1TtlMs: number;
  commandTimeoutMs: number;
  tagRetentionMs: number;
  instanceId: string;
  logger: Logger;
}

/** The circuit breaker's limits, checked. */
export interface BreakerLimits {
  failureThreshold: number;
  resetTimeoutMs: number;
}

// The root namespace may hold ':' (e.g. 'app:cache'), but not at its end.
const ROOT_NAMESPACE = /^[A-Za-z0-9_.:-]{0,127}[A-Za-z0-9_.-]$/;
const DEFAULT_L1 = { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 };

const POSITIVE = wholeNumberRule({ min: 1, open: 'sign', noun: 'integer' });

export function fraction(name: string, value: unknown, inclusive: boolean): number {
  const ok =
    typeof value === 'number' && (inclusive ? value >= 0 && value <= 1 : value > 0 && value < 1);
  if (!ok) {
    throw invalidOptions(
      `${name} must be a number ${inclusive ? 'from 0 to 1' : 'between 0 and 1 (exclusive)'}, got ${JSON.stringify(value)}`,
    );
  }
  return value as number;
}

/** The cache-wide settings; throws naming the first bad option. */
export function resolveSettings(options: CacheOptions): Settings {
  const namespace = options.namespace ?? 'fm';
  if (typeof namespace !== 'string' || !ROOT_NAMESPACE.test(namespace)) {
    throw invalidOptions(
      `namespace must be 1-128 letters, digits, '_', '.', '-' or ':' (not at the end), got ${JSON.stringify(namespace)}`,
    );
  }
  const ttlMs = toMs('ttl', options.ttl ?? '1h', 1);
  const graceMs = toMs('grace', options.grace ?? 0);
  const softTimeoutMs =
    options.softTimeout === undefined ? undefined : toMs('softTimeout', options.softTimeout, 1);
  const l1 = options.l1 ?? {};
  if (l1 !== false && (typeof l1 !== 'object' || l1 === null)) {
    throw invalidOptions('l1 must be an object ({ maxEntries, maxBytes, ttl }) or false');
  }
  const settings: Settings = {
    namespace,
    ttlMs,
    graceMs,
    jitter: fraction('jitter', options.jitter ?? 0.1, true),
    softTimeoutMs,
    earlyRefresh:
      options.earlyRefresh === undefined
        ? undefined
        : fraction('earlyRefresh', options.earlyRefresh, false),
    l1TtlMs:
      l1 === false || l1.ttl === undefined ? Number.POSITIVE_INFINITY : toMs('l1.ttl', l1.ttl, 1),
    commandTimeoutMs: checkOption(
      OPTIONS,
      'commandTimeoutMs',
      options.commandTimeoutMs ?? 100,
      POSITIVE,
    ),
    tagRetentionMs: toMs('tagRetention', options.tagRetention ?? '7d', 1),
    instanceId: options.instanceId ?? randomUUID(),
    logger: options.logger ?? silentLogger,
  };
  if (typeof settings.instanceId !== 'string' || settings.instanceId === '') {
    throw invalidOptions('instanceId must be a non-empty string');
  }
  return settings;
}

/** The bounds of L1, or undefined for none; `l1`'s shape was checked by resolveSettings. */
export function memorySettings(l1: L1Options | false): MemorySettings | undefined {
  if (l1 === false) return undefined;
  return {
    maxEntries: checkOption(
      OPTIONS,
      'l1.maxEntries',
      l1.maxEntries ?? DEFAULT_L1.maxEntries,
      POSITIVE,
    ),
    maxBytes: checkOption(OPTIONS, 'l1.maxBytes', l1.maxBytes ?? DEFAULT_L1.maxBytes, POSITIVE),
  };
}

export function breakerLimits(breaker: BreakerOptions): BreakerLimits {
  return {
    failureThreshold: checkOption(
      OPTIONS,
      'breaker.failureThreshold',
      breaker.failureThreshold ?? 5,
      POSITIVE,
    ),
    resetTimeoutMs: checkOption(
      OPTIONS,
      'breaker.resetTimeoutMs',
      breaker.resetTimeoutMs ?? 1_000,
      POSITIVE,
    ),
  };
}
