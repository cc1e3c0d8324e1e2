import {
  checkOption,
  durationMsRule,
  functionRule,
  type Logger,
  silentLogger,
} from '@fairmind/core';
import { LRUCache } from 'lru-cache';
import { describe, invalid, PREFIX } from '../errors/index.js';
import { OPTIONS } from '../errors/options.js';
import type { Rbac } from '../rbac/index.js';
import type { ApiKeyManagerOptions, ApiKeyRecord, ApiKeyStore } from './index.js';
import { createSecretHasher, type SecretHasher } from './secrets.js';

/** Records that a key was used, at most once per interval per key. */
export interface LastUse {
  /** Writes `at` as the key's last use unless one was written within the interval. */
  touch(record: ApiKeyRecord, at: number): void;
  /** Drops what this instance remembers of a key. */
  forget(id: string): void;
}

/** What issuing, verifying and revoking share: the checked options of one manager. */
export interface ApiKeyContext {
  readonly store: ApiKeyStore;
  readonly rbac: Rbac;
  readonly roleOf: ApiKeyManagerOptions['roleOf'];
  /** The visible label after `fm_`. */
  readonly label: string;
  readonly secrets: SecretHasher;
  readonly lastUse: LastUse;
  readonly rateLimit: ApiKeyManagerOptions['rateLimit'];
  readonly now: () => number;
}

/** Checks the options, in the order a caller sees their errors, and builds the context. */
export function createApiKeyContext(options: ApiKeyManagerOptions): ApiKeyContext {
  const { store, rbac } = options;
  if (typeof store?.findById !== 'function') throw invalid('store', 'must be an ApiKeyStore');
  if (typeof rbac?.check !== 'function') throw invalid('rbac', 'must come from createRbac()');
  checkOption(OPTIONS, 'roleOf', options.roleOf, functionRule);
  const label = options.prefix ?? 'live';
  if (!/^[a-z0-9]{1,16}$/.test(label)) {
    throw invalid('prefix', 'must be 1 to 16 lower-case letters or digits, such as live or test');
  }
  const interval = checkOption(
    OPTIONS,
    'lastUsedIntervalMs',
    options.lastUsedIntervalMs ?? 60_000,
    durationMsRule({ min: 0, open: 'or more' }),
  );
  const pepper = options.pepper;
  if (
    pepper !== undefined &&
    (pepper.length === 0 || (typeof pepper !== 'string' && !(pepper instanceof Uint8Array)))
  ) {
    throw invalid('pepper', 'must be a non-empty string or bytes');
  }
  const logger = (options.logger ?? silentLogger).child({ component: '@fairmind/auth' });
  return {
    store,
    rbac,
    // Called as options' own method, as a caller's `this` would expect.
    roleOf: (ownerId) => options.roleOf(ownerId),
    label,
    secrets: createSecretHasher(pepper),
    lastUse: lastUseRecorder({ store, interval, logger }),
    rateLimit: options.rateLimit,
    now: options.now ?? Date.now,
  };
}

function lastUseRecorder(settings: {
  store: ApiKeyStore;
  interval: number;
  logger: Logger;
}): LastUse {
  const { store, interval, logger } = settings;
  // When this instance last wrote lastUsedAt per key; bounded, and a lost entry costs one write.
  const touched = new LRUCache<string, number>({ max: 10_000 });
  return {
    touch(record, at) {
      const last = Math.max(record.lastUsedAt ?? 0, touched.get(record.id) ?? 0);
      if (at - last < interval) return;
      touched.set(record.id, at);
      store.touch(record.id, at).catch((error: unknown) => {
        logger.warn(
          { keyId: record.id, error: describe(error) },
          `${PREFIX} could not record an API key's last use`,
        );
      });
    },
    forget(id) {
      touched.delete(id);
    },
  };
}
