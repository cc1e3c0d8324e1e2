import { type Logger, silentLogger } from '@fairmind/core';
import {
  type CircuitBreaker,
  type CircuitState,
  createCircuitBreaker,
} from '../circuit-breaker/index.js';
import { createMemoryStore } from '../memory-store/index.js';
import { integerOption, oneOfOption, optionError, PKG } from '../options/index.js';
import type { RateLimitStore } from '../store/index.js';
import type { FailurePolicy, RateLimiterOptions } from './index.js';

/** The checked options of one policy, with their defaults in place. */
export interface LimiterSettings {
  readonly store: RateLimitStore;
  readonly name: string;
  readonly limit: number;
  readonly windowSeconds: number;
  readonly windowMs: number;
  readonly failure: FailurePolicy;
  readonly timeoutMs: number;
  readonly logger: Logger;
}

/** The last store failure, kept for the log line when the circuit opens. */
export interface StoreHealth {
  lastError: unknown;
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

function checkStore(factory: string, store: unknown): RateLimitStore | undefined {
  if (store === undefined) return undefined;
  const candidate = store as Partial<RateLimitStore> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.consume !== 'function' ||
    typeof candidate.reset !== 'function'
  ) {
    throw optionError(
      factory,
      'store must be a rate-limit store such as createRedisStore({ client }) or createMemoryStore().',
    );
  }
  return candidate as RateLimitStore;
}

function checkName(factory: string, value: unknown): string {
  const name = value ?? 'default';
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw optionError(
      factory,
      `name must be 1-64 letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}.`,
    );
  }
  return name;
}

/** Checks the policy's own options, in the order their errors are reported. */
export function resolveSettings(factory: string, opts: RateLimiterOptions): LimiterSettings {
  const store = checkStore(factory, opts.store) ?? createMemoryStore();
  const limit = integerOption(factory, {
    name: 'limit',
    value: opts.limit,
    fallback: 1000,
    min: 1,
  });
  const windowSeconds = integerOption(factory, {
    name: 'windowSeconds',
    value: opts.windowSeconds,
    fallback: 60,
    min: 1,
  });
  const name = checkName(factory, opts.name);
  const failure = oneOfOption(factory, {
    name: 'failure',
    value: opts.failure,
    allowed: ['open', 'closed', 'local'] as const,
    fallback: 'local',
  });
  const timeoutMs = integerOption(factory, {
    name: 'timeoutMs',
    value: opts.timeoutMs,
    fallback: 100,
    min: 1,
    max: 60_000,
  });
  const logger = opts.logger ?? silentLogger;
  return {
    store,
    name,
    limit,
    windowSeconds,
    windowMs: windowSeconds * 1000,
    failure,
    timeoutMs,
    logger,
  };
}

/** The circuit breaker around the store, which logs when the store fails and recovers. */
export function resolveBreaker(
  factory: string,
  value: RateLimiterOptions['breaker'],
  context: { readonly settings: LimiterSettings; readonly health: StoreHealth },
): CircuitBreaker | undefined {
  if (value === false) return undefined;
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw optionError(factory, 'breaker must be { failureThreshold, cooldownMs } or false.');
  }
  const { settings, health } = context;
  const { name, store, failure, logger } = settings;
  const onStateChange = (state: CircuitState, previous: CircuitState) => {
    if (state === 'open') {
      logger.warn(
        { policy: name, store: store.kind, failure, err: health.lastError },
        `[${PKG}] rate-limit store is failing: circuit open, the '${failure}' failure policy decides until it recovers`,
      );
    } else if (state === 'closed' && previous !== 'closed') {
      logger.info({ policy: name, store: store.kind }, `[${PKG}] rate-limit store recovered`);
    }
  };
  return createCircuitBreaker({ ...value, onStateChange });
}
