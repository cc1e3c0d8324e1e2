export type { BreakerState } from './breaker/index.js';
export type { BusState } from './bus/index.js';
export * from './cache/index.js';
export type { Duration } from './duration/index.js';
export * from './http/index.js';
export type { RedisClient } from './store/index.js';
