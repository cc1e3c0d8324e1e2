/** Where the circuit breaker in front of Redis stands (core's `CircuitState`). */
export type { CircuitState as BreakerState } from '@fairmind/core';
export type { BusState } from './bus/index.js';
export {
  type ArgsCallback,
  type BreakerOptions,
  type Cache,
  type CachedOptions,
  type CacheHealth,
  type CacheOptions,
  type CacheStats,
  type CacheStatus,
  createCache,
  type EntryOptions,
  type FactoryContext,
  type GetOrSetOptions,
  type L1Options,
  type SetManyItem,
} from './cache/index.js';
export type { Duration } from './duration/index.js';
export {
  type CachedResponse,
  createResponseCache,
  type ResponseCache,
  type ResponseCacheOptions,
  type ResponseToStore,
  type StoreOptions,
  type VaryBy,
} from './http/index.js';
export type { RedisClient } from './store/index.js';
