/**
 * @fairmind/auth beside the peers it builds on, in one process and one run:
 *   - event-loop delay while four logins hash at cost 12 (run first, while the heap is
 *     small): the worker pool vs plain bcryptjs on the main thread (target: under 10 ms)
 *   - repeat-token verification: createAuth().verifyAccessToken (verified-token cache; the
 *     revocation check still runs) vs raw jose jwtVerify on the same token (target >= 5x)
 *   - cold verification: a different token each time (never cached) vs jose (target >= 0.95x)
 *   - API key verifications per second (memory stores: the key manager's own cost)
 * jose runs twice: given a CryptoKey imported once (the baseline: the fastest way to call
 * jose, and the key form createAuth itself keeps for jose), and given the secret's bytes, as
 * jose's documentation shows for HS256, which imports the key on every call.
 *
 *   pnpm build && pnpm --filter @fairmind/bench run auth
 *
 * Knobs: BENCH_SECONDS (per round, 2), BENCH_ROUNDS (5), BENCH_CONCURRENCY (8), BENCH_ONLY (one
 * of loop, repeat, cold, apikey: run that section alone).
 */
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  createAuth,
  createMemoryApiKeyStore,
  createMemoryUserStore,
  createPasswordHasher,
} from '@fairmind/auth';
import bcrypt from 'bcryptjs';
import { jwtVerify, SignJWT } from 'jose';
import { type Contender, measure, numberFromEnv, report, sectionsFromEnv } from './lib/measure.js';

const seconds = numberFromEnv('BENCH_SECONDS', 2);
const rounds = numberFromEnv('BENCH_ROUNDS', 5);
const concurrency = numberFromEnv('BENCH_CONCURRENCY', 8);
const options = { seconds, rounds, concurrency, warmupSeconds: 1 };
const section = sectionsFromEnv(['loop', 'repeat', 'cold', 'apikey']);

const SECRET = 'bench-secret-of-at-least-thirty-two-characters!';
const secretBytes = new TextEncoder().encode(SECRET);
const secretKey = await crypto.subtle.importKey(
  'raw',
  secretBytes,
  { name: 'HMAC', hash: 'SHA-256' },
  false,
  ['verify'],
);
const passwords = createPasswordHasher({ cost: 12 });
const users = createMemoryUserStore();
const auth = createAuth({ secret: SECRET, users, apiKeys: createMemoryApiKeyStore(), passwords });
const joseOptions = {
  issuer: 'fairmind',
  audience: 'fairmind-api',
  typ: 'at+jwt',
  algorithms: ['HS256'],
};

/** An access token as createAuth issues it, signed by jose directly so it costs no family. */
function accessToken(sub: string): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({ role: 'analyst', jti: randomUUID(), fam: randomUUID() })
    .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
    .setSubject(sub)
    .setIssuer('fairmind')
    .setAudience('fairmind-api')
    .setIssuedAt(iat)
    .setExpirationTime(iat + 3600)
    .sign(secretBytes);
}

console.log(
  `auth benchmark: node ${process.version}, concurrency ${concurrency}, ${rounds} rounds x ${seconds}s`,
);

/** The event loop's delay while `work` runs, sampled every millisecond. */
async function loopDelay(
  work: () => Promise<unknown>,
): Promise<{ maxMs: number; p99Ms: number; totalMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  // Let the sampling timer start first, so a loop blocked from the first moment is seen.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const started = performance.now();
  await work();
  const totalMs = performance.now() - started;
  // A loop blocked to the end records its delay only when the next timer fires.
  await new Promise((resolve) => setTimeout(resolve, 20));
  histogram.disable();
  return {
    maxMs: histogram.max / 1e6,
    p99Ms: histogram.percentile(99) / 1e6,
    totalMs,
  };
}

if (section('loop')) {
  // First, while the heap is small: a major GC pause would be charged to whoever ran then.
  const FOUR = ['first password', 'second password', 'third password', 'fourth password'];
  await passwords.hash('warm the workers up'); // worker start-up is not a login's cost
  const results = [
    {
      name: '@fairmind/auth (worker pool)',
      ...(await loopDelay(() => Promise.all(FOUR.map((p) => passwords.hash(p))))),
    },
    {
      name: 'bcryptjs hash() (async, main thread)',
      ...(await loopDelay(() => Promise.all(FOUR.map((p) => bcrypt.hash(p, 12))))),
    },
    {
      name: 'bcryptjs hashSync() (main thread)',
      ...(await loopDelay(async () => FOUR.map((p) => bcrypt.hashSync(p, 12)))),
    },
  ];
  console.log('\nEvent-loop delay while four logins hash at cost 12');
  console.log('| contender | max delay (ms) | p99 delay (ms) | wall time (ms) |');
  console.log('|---|---:|---:|---:|');
  for (const result of results) {
    console.log(
      `| ${result.name} | ${result.maxMs.toFixed(1)} | ${result.p99Ms.toFixed(1)} | ${Math.round(result.totalMs)} |`,
    );
  }
}

if (section('repeat')) {
  // Repeat verification: one token, verified over and over (a client's burst of requests).
  const repeated = (await auth.issueTokens({ id: 'user-1', role: 'analyst' })).accessToken;
  report(
    'Repeat-token verification (same token)',
    await measure(
      [
        { name: '@fairmind/auth', run: () => auth.verifyAccessToken(repeated) },
        {
          name: 'jose jwtVerify (secret bytes)',
          run: () => jwtVerify(repeated, secretBytes, joseOptions),
        },
        {
          name: 'jose jwtVerify (CryptoKey)',
          run: () => jwtVerify(repeated, secretKey, joseOptions),
        },
      ],
      options,
    ),
    'jose jwtVerify (CryptoKey)',
  );
}

if (section('cold')) {
  // Cold verification: 20,000 distinct tokens in turn, twice the cache's size, so the LRU never
  // holds the next one: every call does the full check (and the cache insert).
  const tokens = await Promise.all(
    Array.from({ length: 20_000 }, (_, index) => accessToken(`u${index}`)),
  );
  function cycle(): () => string {
    let next = 0;
    return () => tokens[next++ % tokens.length] as string;
  }
  const coldAuth = cycle();
  const coldJose = cycle();
  const coldJoseKey = cycle();
  report(
    'Cold verification (a different token each time)',
    await measure(
      [
        { name: '@fairmind/auth', run: () => auth.verifyAccessToken(coldAuth()) },
        {
          name: 'jose jwtVerify (secret bytes)',
          run: () => jwtVerify(coldJose(), secretBytes, joseOptions),
        },
        {
          name: 'jose jwtVerify (CryptoKey)',
          run: () => jwtVerify(coldJoseKey(), secretKey, joseOptions),
        },
      ],
      options,
    ),
    'jose jwtVerify (CryptoKey)',
  );
}

if (section('apikey')) {
  // API keys: the owner's role lookup and the key lookup are memory stores, so this is the
  // manager's own cost (parse, checksum, SHA-256, constant-time compare).
  const owner = await auth.createUser({
    email: 'bench@example.com',
    password: 'bench password',
    role: 'analyst',
  });
  const keys = await Promise.all(
    Array.from({ length: 100 }, (_, index) =>
      auth.createApiKey({ type: 'user', id: owner.id, role: 'analyst' }, { name: `key ${index}` }),
    ),
  );
  let nextKey = 0;
  const apiKeyContenders: Contender[] = [
    {
      name: '@fairmind/auth verifyApiKey',
      run: () => auth.verifyApiKey(keys[nextKey++ % keys.length]?.key as string),
    },
  ];
  report(
    'API key verification (100 keys in turn)',
    await measure(apiKeyContenders, options),
    '@fairmind/auth verifyApiKey',
  );
}

await auth.close();
await passwords.close();
