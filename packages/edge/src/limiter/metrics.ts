import { counter, counterIncrement } from '@fairmind/core/metrics';
import type { Registry } from 'prom-client';
import type { DecisionSource } from './index.js';

/** Why a decision did not come from the store. */
export type StoreErrorReason = 'timeout' | 'error' | 'circuit_open';

/** The limiter's metrics, bound to one policy. */
export interface Counters {
  allowed(source: DecisionSource): void;
  denied(source: DecisionSource): void;
  error(reason: StoreErrorReason): void;
}

const SOURCES: readonly DecisionSource[] = ['store', 'lease', 'cache', 'local', 'open', 'closed'];

export function counters(registry: Registry | undefined, policy: string): Counters {
  if (registry === undefined) return { allowed() {}, denied() {}, error() {} };
  const decisions = counter(registry, {
    name: 'fairmind_rate_limit_decisions_total',
    help: 'Rate-limit decisions by policy, result (allowed, denied) and source.',
    labelNames: ['policy', 'result', 'source'],
  });
  const errors = counter(registry, {
    name: 'fairmind_rate_limit_store_errors_total',
    help: 'Rate-limit store calls that failed, timed out, or were skipped by an open circuit.',
    labelNames: ['policy', 'reason'],
  });
  // Counted in place and handed to prom-client when it is read: its inc(), a bound child's
  // too, hashes the label set on every call, and a decision is made on every request.
  const count = (result: string) =>
    new Map(
      SOURCES.map((source) => [source, counterIncrement(decisions, { policy, result, source })]),
    );
  const allowed = count('allowed');
  const denied = count('denied');
  const failed = {
    timeout: errors.labels(policy, 'timeout'),
    error: errors.labels(policy, 'error'),
    circuit_open: errors.labels(policy, 'circuit_open'),
  };
  return {
    allowed: (source) => allowed.get(source)?.(),
    denied: (source) => denied.get(source)?.(),
    error: (reason) => failed[reason].inc(),
  };
}
