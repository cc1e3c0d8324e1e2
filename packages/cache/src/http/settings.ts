import { checkOption, type Exchange, wholeNumberRule } from '@fairmind/core';
import type { Cache } from '../cache/index.js';
import { toMs } from '../duration/index.js';
import { invalidOptions, OPTIONS } from '../errors/index.js';
import type { ResponseCacheOptions, VaryBy } from './index.js';

const STATUS = wholeNumberRule({ min: 200, max: 599 });

/** The options of `createResponseCache`, checked once with their defaults filled in. */
export interface ResponseCacheSettings {
  /** The cache's namespace for responses. */
  cache: Cache;
  ttl: number;
  vary: readonly VaryBy[];
  tags: readonly string[] | ((exchange: Exchange) => readonly string[]);
  statuses: ReadonlySet<number>;
  maxBodyBytes: number;
}

/** Checks the options, naming the first bad one, and fills in the defaults. */
export function resolveResponseCacheSettings(options: ResponseCacheOptions): ResponseCacheSettings {
  if (options === null || typeof options !== 'object') {
    throw invalidOptions('createResponseCache() takes an options object');
  }
  if (options.cache === null || typeof options.cache?.namespace !== 'function') {
    throw invalidOptions('createResponseCache() needs options.cache, a cache from createCache()');
  }
  const ttl = toMs('ttl', options.ttl ?? '60s', 1);
  const vary = options.vary ?? [];
  if (
    !Array.isArray(vary) ||
    !vary.every((part) => typeof part === 'string' || typeof part === 'function')
  ) {
    throw invalidOptions(
      'vary must be a list of request header names and functions of the exchange',
    );
  }
  const tags = options.tags ?? [];
  if (
    typeof tags !== 'function' &&
    (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string' && tag !== ''))
  ) {
    throw invalidOptions('tags must be a list of non-empty strings or a function of the exchange');
  }
  const statuses = new Set(options.statuses ?? [200]);
  for (const status of statuses) {
    if (!STATUS.accepts(status)) {
      throw invalidOptions(`statuses must hold HTTP statuses, got ${JSON.stringify(status)}`);
    }
  }
  const maxBodyBytes = checkOption(
    OPTIONS,
    'maxBodyBytes',
    options.maxBodyBytes ?? 1_048_576,
    wholeNumberRule({ min: 0, open: 'sign', noun: 'integer' }),
  );
  const cache = options.cache.namespace(options.namespace ?? 'http');
  return { cache, ttl, vary, tags, statuses, maxBodyBytes };
}
