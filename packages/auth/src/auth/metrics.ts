import { counter } from '@fairmind/core/metrics';
import type { Counter, Registry } from 'prom-client';

// Label sets of the counters on the access-token path, made once rather than per verification
// (prom-client only reads them, and keeps the first one it sees for each series).
export const CACHE_HIT = Object.freeze({ result: 'hit' });
export const CACHE_MISS = Object.freeze({ result: 'miss' });
export const ACCESS_OK = Object.freeze({ kind: 'access', outcome: 'ok' });

/** The counters of createAuth; each is `undefined` without a registry. */
export interface AuthMetrics {
  readonly verifications: Counter<'kind' | 'outcome'> | undefined;
  readonly cacheLookups: Counter<'result'> | undefined;
  readonly logins: Counter<'outcome'> | undefined;
}

export function createAuthMetrics(registry: Registry | undefined): AuthMetrics {
  const count = <T extends string>(name: string, help: string, labelNames: T[]) =>
    registry === undefined ? undefined : counter(registry, { name, help, labelNames });
  return {
    verifications: count(
      'fairmind_auth_verifications_total',
      'Credential verifications by kind (access, refresh, api_key) and outcome.',
      ['kind', 'outcome'],
    ),
    cacheLookups: count(
      'fairmind_auth_token_cache_total',
      'Verified-token cache lookups by result (hit, miss).',
      ['result'],
    ),
    logins: count(
      'fairmind_auth_logins_total',
      'Login attempts by outcome (success, failure, locked, unavailable).',
      ['outcome'],
    ),
  };
}

/** The `outcome` label of a failed verification. */
export function outcomeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'TOKEN_EXPIRED') return 'expired';
  if (code === 'TOKEN_REVOKED' || code === 'REFRESH_TOKEN_REUSED') return 'revoked';
  if (code === 'AUTH_STORE_UNAVAILABLE') return 'unavailable';
  return 'invalid';
}

/**
 * `counted(kind, work)`: runs a verification and counts its outcome (the access-token path
 * counts inline, to stay free of an async frame).
 */
export function createCounted(metrics: Pick<AuthMetrics, 'verifications'>) {
  const { verifications } = metrics;
  return async function counted<T>(
    kind: 'api_key' | 'refresh',
    work: () => Promise<T>,
  ): Promise<T> {
    try {
      const result = await work();
      verifications?.inc({ kind, outcome: 'ok' });
      return result;
    } catch (error) {
      verifications?.inc({ kind, outcome: outcomeOf(error) });
      throw error;
    }
  };
}

/** See {@link createCounted}. */
export type Counted = ReturnType<typeof createCounted>;
