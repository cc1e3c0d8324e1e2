/**
 * The rate limiter's circuit breaker is the toolkit's one, from @fairmind/core (the cache
 * uses the same); it is re-exported here so `@fairmind/edge` keeps exporting it.
 */
export {
  type CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitState,
  createCircuitBreaker,
} from '@fairmind/core';
