/** Where the circuit breaker in front of Redis stands (core's `CircuitState`). */
export type { CircuitState as BreakerState } from '@fairmind/core';
export type { BusState } from './bus/index.js';
export * from './cache/index.js';
export type { Duration } from './duration/index.js';
export * from './http/index.js';
export type { RedisClient } from './store/index.js';
