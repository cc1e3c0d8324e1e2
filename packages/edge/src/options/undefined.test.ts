import type { Middleware } from '@fairmind/core';
import { undefinedOptions } from '@fairmind/testing';
import { describe, expect, it } from 'vitest';
import { bodyLimit } from '../body/index.js';
import { createCompressionPolicy } from '../compression/index.js';
import { cors } from '../cors/index.js';
import { createRateLimiter } from '../limiter/index.js';
import { createMemoryStore } from '../memory-store/index.js';
import { createNodeCompression } from '../node/index.js';
import { rateLimit } from '../rate-limit/index.js';
import { requestLog } from '../request-log/index.js';
import { securityHeaders } from '../security-headers/index.js';
import { handleWeb, stableHeaders } from '../test-support/index.js';

// With exactOptionalPropertyTypes a user passes `{ limit: env.LIMIT }`; a key given as
// undefined must mean what leaving it out means, in the types and at run time.
const src = (folder: string) => new URL(`../${folder}/index.ts`, import.meta.url);

async function wire(chain: Middleware[]) {
  const response = await handleWeb(
    chain,
    new Request('http://localhost/api/items', { headers: { origin: 'https://app.example' } }),
    () => new Response('{}', { headers: { 'content-type': 'application/json' } }),
  );
  const headers = stableHeaders(response.headers);
  delete headers['x-request-id'];
  // The seconds left in the window depend on when each chain's store began counting, which a
  // slow run puts on either side of a second: present, and a whole number, is what must match.
  const limit = headers['ratelimit'];
  if (limit !== undefined) headers['ratelimit'] = limit.replace(/;t=\d+$/, ';t=(seconds)');
  return { status: response.status, headers };
}

describe('options given as undefined', () => {
  it('securityHeaders, rateLimit, requestLog and bodyLimit answer as with no options', async () => {
    const given = [
      securityHeaders(undefinedOptions(src('security-headers'), 'SecurityHeadersOptions')),
      rateLimit({
        ...undefinedOptions(src('limiter'), 'RateLimiterOptions'),
        ...undefinedOptions(src('rate-limit'), 'RateLimitOptions'),
        store: createMemoryStore(undefinedOptions(src('memory-store'), 'MemoryStoreOptions')),
      }),
      requestLog(undefinedOptions(src('request-log'), 'RequestLogOptions')),
      bodyLimit(undefinedOptions(src('body'), 'BodyLimitOptions')),
    ];
    const left = [
      securityHeaders(),
      rateLimit({ store: createMemoryStore() }),
      requestLog(),
      bodyLimit(),
    ];
    expect(await wire(given)).toEqual(await wire(left));
  });

  it('cors takes its required origins and leaves the rest to the defaults', async () => {
    const given = cors({
      ...undefinedOptions(src('cors'), 'CorsOptions'),
      origins: 'https://app.example',
    });
    expect(await wire([given])).toEqual(await wire([cors({ origins: 'https://app.example' })]));
  });

  it('the limiter, the compression policy and the Node compression accept them', () => {
    expect(() =>
      createRateLimiter({
        ...undefinedOptions(src('limiter'), 'RateLimiterOptions'),
        store: createMemoryStore(),
      }),
    ).not.toThrow();
    const policy = createCompressionPolicy(
      undefinedOptions(src('compression'), 'CompressionPolicyOptions'),
    );
    const defaults = createCompressionPolicy();
    expect(policy.threshold).toBe(defaults.threshold);
    expect(policy.encodings).toEqual(defaults.encodings);
    expect(policy.negotiate(null)).toBe(defaults.negotiate(null));
    expect(policy.negotiate('gzip, br')).toBe(defaults.negotiate('gzip, br'));
    expect(() =>
      createNodeCompression(undefinedOptions(src('node'), 'NodeCompressionOptions')),
    ).not.toThrow();
  });
});
