import {
  type Exchange,
  type HeaderRecord,
  type MiddlewareResult,
  PROBLEM_CONTENT_TYPE,
  type Reply,
} from '@fairmind/core';
import type { RateLimitResult } from '../limiter/index.js';
import type { Rule } from './rules.js';

function headersFor(rule: Rule, result: RateLimitResult, legacy: boolean): HeaderRecord {
  const headers: HeaderRecord = { 'ratelimit-policy': rule.policyHeader };
  // With the store down and the request let through, there is no count to report.
  if (result.source === 'open' || result.source === 'closed') return headers;
  headers['ratelimit'] = `"${result.policy}";r=${result.remaining};t=${result.resetSeconds}`;
  if (legacy) {
    headers['x-ratelimit-limit'] = String(result.limit);
    headers['x-ratelimit-remaining'] = String(result.remaining);
    headers['x-ratelimit-reset'] = String(Math.ceil(Date.now() / 1000) + result.resetSeconds);
  }
  return headers;
}

/**
 * Puts the decision on the exchange and turns it into the middleware's answer: the
 * `RateLimit` headers when allowed, a 429 (or a 503 when the store is down and the failure
 * policy is `closed`) with `Retry-After` when not. `legacy` adds the `X-RateLimit-*` headers.
 */
export function outcome(
  rule: Rule,
  result: RateLimitResult,
  exchange: Exchange,
  legacy: boolean,
): MiddlewareResult {
  exchange.state.rateLimit = result;
  const headers = headersFor(rule, result, legacy);
  if (result.allowed) return { headers };
  const unavailable = result.source === 'closed';
  const reply: Reply = {
    status: unavailable ? 503 : 429,
    headers: {
      ...headers,
      'retry-after': String(result.resetSeconds),
      'content-type': PROBLEM_CONTENT_TYPE,
    },
    body: unavailable ? rule.unavailable : rule.tooMany,
  };
  return { reply };
}
