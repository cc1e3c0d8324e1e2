import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FairmindError } from '../errors/index.js';
import { configSchema, type FairmindConfig, loadConfig } from './index.js';

type Env = Record<string, string | undefined>;

const STRONG_SECRET = 'k3Qv9xZ2mW7pL4rT8yB1nC6hF0jD5sGa'; // 32 characters
const PREFIX = '[@fairmind/core] invalid configuration:';

const ed25519 = generateKeyPairSync('ed25519');
const ED25519_PRIVATE = ed25519.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const ED25519_PUBLIC = ed25519.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const EC_PRIVATE = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const EC_SEC1_PRIVATE = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'sec1', format: 'pem' })
  .toString();

/** Loads with a strong secret unless the test sets its own, collecting warnings. */
function load(env: Env, warnings: string[] = []): FairmindConfig {
  return loadConfig({
    env: { JWT_SECRET: STRONG_SECRET, ...env },
    warn: (message) => warnings.push(message),
  });
}

/** The CONFIG_INVALID error that loading `env` throws; fails the test if nothing is thrown. */
function failure(env: Env): FairmindError {
  try {
    loadConfig({ env: { JWT_SECRET: STRONG_SECRET, ...env }, warn: () => {} });
  } catch (error) {
    expect(error).toBeInstanceOf(FairmindError);
    return error as FairmindError;
  }
  throw new Error(`expected loadConfig to refuse ${JSON.stringify(env)}`);
}

function issues(error: FairmindError): { variable: string; message: string }[] {
  return (error.details as { issues: { variable: string; message: string }[] }).issues;
}

function badVariables(env: Env): string[] {
  return issues(failure(env)).map((issue) => issue.variable);
}

describe('.env.example', () => {
  // The file users copy to .env: it must name every variable, each with its real default.
  const file = fileURLToPath(new URL('../../../../.env.example', import.meta.url));
  const example = parseEnv(readFileSync(file, 'utf8'));

  it('lists every variable of the schema, and no other', () => {
    expect(Object.keys(example).sort()).toEqual(Object.keys(configSchema.shape).sort());
  });

  it('gives each the default that an empty environment gets', () => {
    const quiet = { warn: () => {} };
    const { jwt: fromFile, ...restFromFile } = loadConfig({ env: example, ...quiet });
    const { jwt: fromNothing, ...restFromNothing } = loadConfig({ env: {}, ...quiet });
    expect(restFromFile).toEqual(restFromNothing);
    expect({ ...fromFile, secret: '' }).toEqual({ ...fromNothing, secret: '' });
  });
});

describe('loadConfig defaults', () => {
  it('fills every setting from an empty environment', () => {
    const warnings: string[] = [];
    const config = loadConfig({ env: {}, warn: (m) => warnings.push(m) });
    expect(config).toEqual({
      env: 'development',
      port: 3000,
      host: '0.0.0.0',
      logLevel: 'info',
      database: {
        driver: 'sqlite',
        poolSize: 20,
        maxOverflow: 30,
        timeoutMs: 30_000,
        replicaMaxLagMs: 2_000,
      },
      redis: { ttlSeconds: 3600 },
      jwt: {
        secret: expect.any(String),
        algorithm: 'HS256',
        expireMinutes: 30,
        secretGenerated: true,
        revocationStaleMs: 100,
      },
      rateLimit: { requests: 1000, windowSeconds: 60, by: 'ip', lease: 100 },
      cors: { origins: [] },
      trustedProxies: [],
      drainTimeoutMs: 10_000,
      shutdownDelayMs: 0,
    });
    // exactOptionalPropertyTypes: absent settings are absent keys, not `undefined` values.
    expect('url' in config.database).toBe(false);
    expect('url' in config.redis).toBe(false);
    expect('clusterNodes' in config.redis).toBe(false);
    expect('admin' in config).toBe(false);
  });

  it('treats empty strings as unset', () => {
    const names = [
      'NODE_ENV',
      'PORT',
      'HOST',
      'LOG_LEVEL',
      'DATABASE_URL',
      'DATABASE_POOL_SIZE',
      'DATABASE_MAX_OVERFLOW',
      'DATABASE_TIMEOUT',
      'REDIS_URL',
      'REDIS_CLUSTER_NODES',
      'REDIS_TTL',
      'DATABASE_REPLICA_URLS',
      'DATABASE_REPLICA_MAX_LAG',
      'JWT_SECRET',
      'JWT_ALGORITHM',
      'JWT_EXPIRE_MINUTES',
      'RATE_LIMIT_REQUESTS',
      'RATE_LIMIT_WINDOW',
      'RATE_LIMIT_BY',
      'RATE_LIMIT_LEASE',
      'REVOCATION_STALE_MS',
      'CORS_ORIGINS',
      'TRUSTED_PROXIES',
      'SHUTDOWN_TIMEOUT',
      'SHUTDOWN_DELAY',
      'FAIRMIND_ADMIN_EMAIL',
      'FAIRMIND_ADMIN_PASSWORD',
    ];
    const env = Object.fromEntries(names.map((name) => [name, '']));
    const blank = loadConfig({ env, warn: () => {} });
    const empty = loadConfig({ env: {}, warn: () => {} });
    expect({ ...blank, jwt: { ...blank.jwt, secret: '' } }).toEqual({
      ...empty,
      jwt: { ...empty.jwt, secret: '' },
    });
    expect(blank.jwt.secretGenerated).toBe(true);
  });

  it('ignores variables it does not know', () => {
    expect(load({ PATH: '/usr/bin', SOMETHING_ELSE: 'x' }).port).toBe(3000);
  });

  it('reads process.env when no env is given', () => {
    vi.stubEnv('PORT', '4321');
    vi.stubEnv('NODE_ENV', 'test');
    try {
      expect(loadConfig({ warn: () => {} }).port).toBe(4321);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('each variable', () => {
  const valid: [string, Env, (config: FairmindConfig) => unknown, unknown][] = [
    ['NODE_ENV', { NODE_ENV: 'production' }, (c) => c.env, 'production'],
    ['PORT', { PORT: '8080' }, (c) => c.port, 8080],
    ['PORT (0 lets the OS pick)', { PORT: '0' }, (c) => c.port, 0],
    ['PORT (surrounding spaces)', { PORT: ' 8080 ' }, (c) => c.port, 8080],
    ['HOST', { HOST: '127.0.0.1' }, (c) => c.host, '127.0.0.1'],
    ['HOST (IPv6)', { HOST: '::' }, (c) => c.host, '::'],
    ['HOST (name)', { HOST: 'localhost' }, (c) => c.host, 'localhost'],
    ['LOG_LEVEL', { LOG_LEVEL: 'debug' }, (c) => c.logLevel, 'debug'],
    ['RATE_LIMIT_BY', { RATE_LIMIT_BY: 'principal' }, (c) => c.rateLimit.by, 'principal'],
    [
      'DATABASE_URL (postgres)',
      { DATABASE_URL: 'postgres://app:pw@db:5432/fairmind' },
      (c) => c.database,
      expect.objectContaining({ url: 'postgres://app:pw@db:5432/fairmind', driver: 'postgres' }),
    ],
    [
      'DATABASE_URL (postgresql)',
      { DATABASE_URL: 'postgresql://app@localhost/fairmind' },
      (c) => c.database.driver,
      'postgres',
    ],
    [
      'DATABASE_URL (socket, empty host)',
      { DATABASE_URL: 'postgres://app@/fairmind?host=/var/run/postgresql' },
      (c) => c.database.driver,
      'postgres',
    ],
    [
      'DATABASE_URL (sqlite path)',
      { DATABASE_URL: 'sqlite:./data/app.db' },
      (c) => c.database,
      expect.objectContaining({ url: 'sqlite:./data/app.db', driver: 'sqlite' }),
    ],
    [
      'DATABASE_URL (sqlite memory)',
      { DATABASE_URL: 'sqlite::memory:' },
      (c) => c.database.driver,
      'sqlite',
    ],
    ['DATABASE_POOL_SIZE', { DATABASE_POOL_SIZE: '5' }, (c) => c.database.poolSize, 5],
    ['DATABASE_POOL_SIZE (max)', { DATABASE_POOL_SIZE: '1000' }, (c) => c.database.poolSize, 1000],
    ['DATABASE_MAX_OVERFLOW', { DATABASE_MAX_OVERFLOW: '0' }, (c) => c.database.maxOverflow, 0],
    ['DATABASE_TIMEOUT', { DATABASE_TIMEOUT: '5' }, (c) => c.database.timeoutMs, 5000],
    ['DATABASE_TIMEOUT (fraction)', { DATABASE_TIMEOUT: '2.5' }, (c) => c.database.timeoutMs, 2500],
    ['DATABASE_TIMEOUT (.5)', { DATABASE_TIMEOUT: '.5' }, (c) => c.database.timeoutMs, 500],
    ['SHUTDOWN_TIMEOUT (default)', {}, (c) => c.drainTimeoutMs, 10_000],
    ['SHUTDOWN_TIMEOUT', { SHUTDOWN_TIMEOUT: '25' }, (c) => c.drainTimeoutMs, 25_000],
    ['SHUTDOWN_TIMEOUT (fraction)', { SHUTDOWN_TIMEOUT: '0.25' }, (c) => c.drainTimeoutMs, 250],
    ['SHUTDOWN_DELAY (default)', {}, (c) => c.shutdownDelayMs, 0],
    [
      'DATABASE_REPLICA_URLS',
      {
        DATABASE_URL: 'postgres://app@primary/app',
        DATABASE_REPLICA_URLS: ' postgres://app@r1/app, postgresql://app@r2:5433/app,',
      },
      (c) => c.database.replicaUrls,
      ['postgres://app@r1/app', 'postgresql://app@r2:5433/app'],
    ],
    [
      'DATABASE_REPLICA_MAX_LAG',
      { DATABASE_REPLICA_MAX_LAG: '0.5' },
      (c) => c.database.replicaMaxLagMs,
      500,
    ],
    ['SHUTDOWN_DELAY (off)', { SHUTDOWN_DELAY: '0' }, (c) => c.shutdownDelayMs, 0],
    ['SHUTDOWN_DELAY', { SHUTDOWN_DELAY: '2.5' }, (c) => c.shutdownDelayMs, 2500],
    [
      'REDIS_URL',
      { REDIS_URL: 'redis://:pw@cache:6379/0' },
      (c) => c.redis.url,
      'redis://:pw@cache:6379/0',
    ],
    [
      'REDIS_URL (TLS)',
      { REDIS_URL: 'rediss://cache:6380' },
      (c) => c.redis.url,
      'rediss://cache:6380',
    ],
    [
      'REDIS_CLUSTER_NODES',
      { REDIS_CLUSTER_NODES: ' redis://:pw@10.0.0.1:7000, redis://:pw@10.0.0.2:7000,' },
      (c) => c.redis.clusterNodes,
      ['redis://:pw@10.0.0.1:7000', 'redis://:pw@10.0.0.2:7000'],
    ],
    ['REDIS_TTL', { REDIS_TTL: '60' }, (c) => c.redis.ttlSeconds, 60],
    ['JWT_SECRET', { JWT_SECRET: STRONG_SECRET }, (c) => c.jwt.secret, STRONG_SECRET],
    ['JWT_ALGORITHM', { JWT_ALGORITHM: 'HS512' }, (c) => c.jwt.algorithm, 'HS512'],
    ['JWT_EXPIRE_MINUTES', { JWT_EXPIRE_MINUTES: '1440' }, (c) => c.jwt.expireMinutes, 1440],
    ['RATE_LIMIT_REQUESTS', { RATE_LIMIT_REQUESTS: '10' }, (c) => c.rateLimit.requests, 10],
    ['RATE_LIMIT_WINDOW', { RATE_LIMIT_WINDOW: '1' }, (c) => c.rateLimit.windowSeconds, 1],
    ['RATE_LIMIT_LEASE', { RATE_LIMIT_LEASE: '0' }, (c) => c.rateLimit.lease, 0],
    ['REVOCATION_STALE_MS', { REVOCATION_STALE_MS: '0' }, (c) => c.jwt.revocationStaleMs, 0],
    [
      'CORS_ORIGINS',
      { CORS_ORIGINS: 'https://app.example.com' },
      (c) => c.cors.origins,
      ['https://app.example.com'],
    ],
    [
      'TRUSTED_PROXIES',
      { TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.1' },
      (c) => c.trustedProxies,
      expect.arrayContaining(['10.0.0.0/8']),
    ],
  ];

  it.each(valid)('accepts a valid %s', (_name, env, pick, expected) => {
    expect(pick(load(env))).toEqual(expected);
  });

  const invalid: [string, Env, RegExp][] = [
    ['NODE_ENV', { NODE_ENV: 'staging' }, /one of development, production, test/],
    ['NODE_ENV', { NODE_ENV: 'Production' }, /one of development, production, test/],
    ['PORT', { PORT: '65536' }, /whole number from 0 to 65535 \(got "65536"\)/],
    ['PORT', { PORT: '-1' }, /whole number from 0 to 65535/],
    ['PORT', { PORT: 'http' }, /whole number from 0 to 65535/],
    ['HOST', { HOST: 'not a host' }, /hostname or IP address/],
    ['HOST', { HOST: '999.1.1.1' }, /hostname or IP address/],
    ['HOST', { HOST: 'http://localhost' }, /hostname or IP address/],
    [
      'LOG_LEVEL',
      { LOG_LEVEL: 'verbose' },
      /one of fatal, error, warn, info, debug, trace, silent/,
    ],
    ['RATE_LIMIT_BY', { RATE_LIMIT_BY: 'user' }, /one of ip, principal/],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://db/app' }, /got a "mysql:" URL/],
    ['DATABASE_URL', { DATABASE_URL: './data/app.db' }, /put sqlite: in front of a file path/],
    ['DATABASE_URL', { DATABASE_URL: 'sqlite:' }, /path after sqlite: is empty/],
    ['DATABASE_URL', { DATABASE_URL: 'postgres://u:p#w@db/app' }, /percent-encode/],
    ['DATABASE_POOL_SIZE', { DATABASE_POOL_SIZE: '0' }, /from 1 to 1000/],
    ['DATABASE_POOL_SIZE', { DATABASE_POOL_SIZE: '1001' }, /from 1 to 1000/],
    ['DATABASE_MAX_OVERFLOW', { DATABASE_MAX_OVERFLOW: '-5' }, /from 0 to 1000/],
    ['DATABASE_MAX_OVERFLOW', { DATABASE_MAX_OVERFLOW: '1001' }, /from 0 to 1000/],
    ['DATABASE_TIMEOUT', { DATABASE_TIMEOUT: '0' }, /positive number of seconds/],
    ['DATABASE_TIMEOUT', { DATABASE_TIMEOUT: '1e3' }, /positive number of seconds/],
    ['DATABASE_TIMEOUT', { DATABASE_TIMEOUT: '30s' }, /positive number of seconds/],
    ['DATABASE_TIMEOUT', { DATABASE_TIMEOUT: '3000000' }, /at most 2147483/],
    ['SHUTDOWN_TIMEOUT', { SHUTDOWN_TIMEOUT: '-1' }, /positive number of seconds/],
    ['SHUTDOWN_TIMEOUT', { SHUTDOWN_TIMEOUT: '10s' }, /positive number of seconds/],
    ['SHUTDOWN_DELAY', { SHUTDOWN_DELAY: '-1' }, /must be 0 \(off\) or a positive number/],
    ['SHUTDOWN_DELAY', { SHUTDOWN_DELAY: '2s' }, /must be 0 \(off\) or a positive number/],
    ['SHUTDOWN_DELAY', { SHUTDOWN_DELAY: '10' }, /shorter than SHUTDOWN_TIMEOUT \(10 s\)/],
    [
      'SHUTDOWN_DELAY',
      { SHUTDOWN_DELAY: '3', SHUTDOWN_TIMEOUT: '2' },
      /shorter than SHUTDOWN_TIMEOUT \(2 s\)/,
    ],
    ['REDIS_URL', { REDIS_URL: 'http://cache:6379' }, /redis:\/\/ or rediss:\/\//],
    ['REDIS_URL', { REDIS_URL: 'cache:6379' }, /redis:\/\/ or rediss:\/\//],
    ['REDIS_CLUSTER_NODES', { REDIS_CLUSTER_NODES: ' , ' }, /at least one redis:\/\//],
    [
      'DATABASE_REPLICA_URLS',
      { DATABASE_URL: 'postgres://db/app', DATABASE_REPLICA_URLS: 'postgres://r1/app,r2/app' },
      /entry 2 got a value without a scheme/,
    ],
    [
      'DATABASE_REPLICA_URLS',
      { DATABASE_URL: 'postgres://db/app', DATABASE_REPLICA_URLS: 'sqlite:./r.db' },
      /entry 1 is a sqlite: URL/,
    ],
    [
      'DATABASE_REPLICA_URLS',
      { DATABASE_URL: 'postgres://db/app', DATABASE_REPLICA_URLS: 'postgres://r/a,postgres://r/a' },
      /the same replica twice/,
    ],
    [
      'DATABASE_REPLICA_URLS',
      { DATABASE_REPLICA_URLS: 'postgres://r1/app' },
      /needs DATABASE_URL to name the PostgreSQL primary/,
    ],
    [
      'DATABASE_REPLICA_URLS',
      { DATABASE_URL: 'sqlite:./a.db', DATABASE_REPLICA_URLS: 'postgres://r1/app' },
      /needs DATABASE_URL to name the PostgreSQL primary/,
    ],
    ['DATABASE_REPLICA_MAX_LAG', { DATABASE_REPLICA_MAX_LAG: '0' }, /positive number of seconds/],
    [
      'REDIS_CLUSTER_NODES',
      { REDIS_CLUSTER_NODES: 'redis://a:7000,b:7000' },
      /comma-separated list.*entry 2 is not a redis:\/\//,
    ],
    [
      'REDIS_CLUSTER_NODES',
      { REDIS_CLUSTER_NODES: 'redis://:one@a:7000,redis://:two@b:7000' },
      /same scheme, user name and password/,
    ],
    [
      'REDIS_CLUSTER_NODES',
      { REDIS_CLUSTER_NODES: 'redis://a:7000', REDIS_URL: 'redis://a:6379' },
      /cannot be set together with REDIS_URL/,
    ],
    ['REDIS_TTL', { REDIS_TTL: '0' }, /positive whole number of seconds/],
    ['REDIS_TTL', { REDIS_TTL: '1.5' }, /positive whole number of seconds/],
    ['JWT_ALGORITHM', { JWT_ALGORITHM: 'none' }, /one of HS256, HS384, HS512, RS256, ES256, EdDSA/],
    ['JWT_ALGORITHM', { JWT_ALGORITHM: 'hs256' }, /one of HS256/],
    ['JWT_EXPIRE_MINUTES', { JWT_EXPIRE_MINUTES: '1441' }, /from 1 to 1440.*refresh tokens/],
    ['JWT_EXPIRE_MINUTES', { JWT_EXPIRE_MINUTES: '0' }, /from 1 to 1440/],
    ['RATE_LIMIT_REQUESTS', { RATE_LIMIT_REQUESTS: '0' }, /positive whole number/],
    ['RATE_LIMIT_WINDOW', { RATE_LIMIT_WINDOW: '-60' }, /positive whole number of seconds/],
    ['RATE_LIMIT_LEASE', { RATE_LIMIT_LEASE: '-1' }, /whole number from 0/],
    ['REVOCATION_STALE_MS', { REVOCATION_STALE_MS: '60001' }, /of ms from 0 to 60000/],
    ['CORS_ORIGINS', { CORS_ORIGINS: 'app.example.com' }, /"app.example.com" is not an origin/],
    ['TRUSTED_PROXIES', { TRUSTED_PROXIES: 'proxy.internal' }, /"proxy.internal"/],
    [
      'FAIRMIND_ADMIN_EMAIL',
      { FAIRMIND_ADMIN_EMAIL: 'admin', FAIRMIND_ADMIN_PASSWORD: 'correct horse' },
      /email address/,
    ],
    [
      'FAIRMIND_ADMIN_PASSWORD',
      { FAIRMIND_ADMIN_EMAIL: 'a@example.com', FAIRMIND_ADMIN_PASSWORD: 'short' },
      /8 to 72 bytes/,
    ],
  ];

  it.each(invalid)('refuses a bad %s (%o)', (variable, env, message) => {
    const error = failure(env);
    expect(issues(error)).toEqual([{ variable, message: expect.stringMatching(message) }]);
    expect(error.message).toMatch(new RegExp(`^  ${variable} `, 'm'));
  });

  it.each(['20abc', '1e3', '2.5', '0x10', '+5', '2 0'])(
    'refuses %o where a whole number is required',
    (value) => {
      expect(badVariables({ DATABASE_POOL_SIZE: value })).toEqual(['DATABASE_POOL_SIZE']);
      expect(badVariables({ PORT: value })).toEqual(['PORT']);
    },
  );

  it('names the URL scheme but never the URL, which may hold a password', () => {
    const error = failure({
      DATABASE_URL: 'mysql://root:db-pass-123@db/app',
      REDIS_URL: 'http://:redis-pass-456@cache',
    });
    expect(badVariables({ DATABASE_URL: 'mysql://root:db-pass-123@db/app' })).toEqual([
      'DATABASE_URL',
    ]);
    expect(error.message).not.toContain('db-pass-123');
    expect(error.message).not.toContain('redis-pass-456');
    expect(JSON.stringify(error.details)).not.toContain('pass-');
  });
});

describe('the error', () => {
  it('is one CONFIG_INVALID FairmindError listing every bad variable on its own line', () => {
    const error = failure({
      PORT: 'abc',
      DATABASE_POOL_SIZE: '0',
      JWT_ALGORITHM: 'none',
      CORS_ORIGINS: 'https://a.example.com/',
      FAIRMIND_ADMIN_EMAIL: 'admin@example.com',
    });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.status).toBe(500);
    expect(error.expose).toBe(false);
    const lines = error.message.split('\n');
    expect(lines[0]).toBe(PREFIX);
    expect(lines.slice(1).map((line) => line.trim().split(' ')[0])).toEqual([
      'PORT',
      'DATABASE_POOL_SIZE',
      'JWT_ALGORITHM',
      'CORS_ORIGINS',
      'FAIRMIND_ADMIN_PASSWORD',
    ]);
    expect(issues(error).map((issue) => issue.variable)).toEqual([
      'PORT',
      'DATABASE_POOL_SIZE',
      'JWT_ALGORITHM',
      'CORS_ORIGINS',
      'FAIRMIND_ADMIN_PASSWORD',
    ]);
  });

  it('reports rules across variables together with single-variable errors', () => {
    expect(badVariables({ NODE_ENV: 'production', JWT_SECRET: 'short', PORT: 'x' })).toEqual([
      'PORT',
      'JWT_SECRET',
    ]);
  });
});

describe('JWT secret in production', () => {
  const production = { NODE_ENV: 'production' };

  it('accepts a secret of 32 characters', () => {
    const warnings: string[] = [];
    const config = load({ ...production, JWT_SECRET: STRONG_SECRET }, warnings);
    expect(config.jwt).toMatchObject({ secret: STRONG_SECRET, secretGenerated: false });
    expect(warnings).toEqual([]);
  });

  it('refuses a secret under 32 characters', () => {
    const error = failure({ ...production, JWT_SECRET: STRONG_SECRET.slice(1) });
    expect(issues(error)).toEqual([
      { variable: 'JWT_SECRET', message: expect.stringMatching(/is 31 characters.*at least 32/) },
    ]);
  });

  it('counts characters, not UTF-16 units', () => {
    // 16 emoji are 32 UTF-16 units but only 16 characters.
    expect(badVariables({ ...production, JWT_SECRET: '🔑'.repeat(16) })).toEqual(['JWT_SECRET']);
  });

  it('refuses a missing secret instead of generating one', () => {
    const error = failure({ ...production, JWT_SECRET: undefined });
    expect(issues(error)).toEqual([
      {
        variable: 'JWT_SECRET',
        message: expect.stringMatching(/required when NODE_ENV=production/),
      },
    ]);
  });

  it.each(['HS256', 'HS384', 'HS512'])('refuses a PEM key as an %s secret', (algorithm) => {
    const error = failure({ ...production, JWT_ALGORITHM: algorithm, JWT_SECRET: ED25519_PUBLIC });
    expect(issues(error)).toEqual([
      { variable: 'JWT_SECRET', message: expect.stringMatching(/algorithm-confusion/) },
    ]);
  });

  it('never echoes the secret', () => {
    const short = 'hunter2-is-my-secret';
    for (const secret of [short, ED25519_PUBLIC, ED25519_PRIVATE]) {
      const error = failure({ ...production, JWT_SECRET: secret, PORT: 'x' });
      expect(error.message).not.toContain(secret);
      expect(error.message).not.toContain(secret.split('\n')[1]);
      expect(JSON.stringify(error.details)).not.toContain(secret.split('\n')[1]);
    }
    expect(failure({ ...production, JWT_SECRET: short }).message).not.toContain('hunter2');
  });
});

describe('JWT secret with an asymmetric algorithm', () => {
  it.each([
    ['EdDSA', ED25519_PRIVATE],
    ['ES256', EC_PRIVATE],
    ['ES256', EC_SEC1_PRIVATE],
  ])('accepts a PEM private key for %s', (algorithm, pem) => {
    const config = load({ NODE_ENV: 'production', JWT_ALGORITHM: algorithm, JWT_SECRET: pem });
    expect(config.jwt).toMatchObject({ algorithm, secret: pem, secretGenerated: false });
  });

  it.each(['development', 'test', 'production'])(
    'refuses a missing key even with NODE_ENV=%s, and explains why',
    (nodeEnv) => {
      const error = failure({ NODE_ENV: nodeEnv, JWT_ALGORITHM: 'RS256', JWT_SECRET: undefined });
      expect(issues(error)).toEqual([
        {
          variable: 'JWT_SECRET',
          message: expect.stringMatching(/private key.*cannot be generated.*openssl genpkey/s),
        },
      ]);
    },
  );

  it('refuses a plain string secret', () => {
    const error = failure({ NODE_ENV: 'development', JWT_ALGORITHM: 'EdDSA' });
    expect(issues(error)).toEqual([
      { variable: 'JWT_SECRET', message: expect.stringMatching(/is not a PEM key/) },
    ]);
    expect(error.message).not.toContain(STRONG_SECRET);
  });

  it('refuses a public key', () => {
    const error = failure({ JWT_ALGORITHM: 'EdDSA', JWT_SECRET: ED25519_PUBLIC });
    expect(issues(error)[0]?.message).toMatch(/"PUBLIC KEY", not a private key/);
  });

  it('refuses a key of the wrong family', () => {
    expect(issues(failure({ JWT_ALGORITHM: 'RS256', JWT_SECRET: EC_SEC1_PRIVATE }))).toEqual([
      {
        variable: 'JWT_SECRET',
        message: expect.stringMatching(/EC PRIVATE KEY.*cannot sign RS256/),
      },
    ]);
  });

  it('refuses an encrypted key', () => {
    const pem = '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----';
    expect(issues(failure({ JWT_ALGORITHM: 'ES256', JWT_SECRET: pem }))[0]?.message).toMatch(
      /encrypted/,
    );
  });

  it('restores newlines written as \\n on one line', () => {
    const oneLine = ED25519_PRIVATE.trimEnd().replaceAll('\n', '\\n');
    const config = load({ JWT_ALGORITHM: 'EdDSA', JWT_SECRET: oneLine });
    expect(config.jwt.secret).toBe(ED25519_PRIVATE.trimEnd());
  });
});

describe('generated development secret', () => {
  it.each(['development', 'test'])(
    'generates a 48-byte secret and warns with NODE_ENV=%s',
    (env) => {
      const warnings: string[] = [];
      const config = load({ NODE_ENV: env, JWT_SECRET: undefined }, warnings);
      expect(config.jwt.secretGenerated).toBe(true);
      // 48 bytes are exactly 64 base64url characters, without padding.
      expect(config.jwt.secret).toMatch(/^[A-Za-z0-9_-]{64}$/);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/JWT_SECRET is not set/);
      expect(warnings[0]).toMatch(/not survive a restart/);
      expect(warnings[0]).toMatch(/Set JWT_SECRET.*openssl rand/);
      expect(warnings[0]).not.toContain(config.jwt.secret);
    },
  );

  it('generates a different secret each time', () => {
    const a = load({ JWT_SECRET: undefined }).jwt.secret;
    const b = load({ JWT_SECRET: undefined }).jwt.secret;
    expect(a).not.toBe(b);
  });

  it('uses console.warn when no warn is given', () => {
    const spy = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      loadConfig({ env: {} });
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy.mock.calls[0]?.[0]).toMatch(/not survive a restart/);
    } finally {
      spy.mockRestore();
    }
  });

  it('warns but accepts a short secret in development', () => {
    const warnings: string[] = [];
    const config = load({ NODE_ENV: 'development', JWT_SECRET: 'dev' }, warnings);
    expect(config.jwt).toMatchObject({ secret: 'dev', secretGenerated: false });
    expect(warnings).toEqual([expect.stringMatching(/shorter than 32 characters/)]);
    expect(warnings[0]).not.toContain("'dev'");
  });

  it('does not warn about a strong secret', () => {
    const warnings: string[] = [];
    load({ NODE_ENV: 'development' }, warnings);
    expect(warnings).toEqual([]);
  });
});

describe('admin account', () => {
  const email = 'admin@example.com';

  it('is present when both variables are set', () => {
    const config = load({ FAIRMIND_ADMIN_EMAIL: email, FAIRMIND_ADMIN_PASSWORD: 'correct horse' });
    expect(config.admin).toEqual({ email, password: 'correct horse' });
  });

  it('refuses an email without a password', () => {
    const error = failure({ FAIRMIND_ADMIN_EMAIL: email });
    expect(issues(error)).toEqual([
      {
        variable: 'FAIRMIND_ADMIN_PASSWORD',
        message: expect.stringMatching(/required because FAIRMIND_ADMIN_EMAIL is set/),
      },
    ]);
  });

  it('refuses a password without an email, and does not echo it', () => {
    const error = failure({ FAIRMIND_ADMIN_PASSWORD: 'correct horse' });
    expect(issues(error)).toEqual([
      {
        variable: 'FAIRMIND_ADMIN_EMAIL',
        message: expect.stringMatching(/required because FAIRMIND_ADMIN_PASSWORD is set/),
      },
    ]);
    expect(error.message).not.toContain('correct horse');
  });

  it('accepts 8 and 72 bytes', () => {
    for (const password of ['12345678', 'x'.repeat(72), 'é'.repeat(36)]) {
      expect(
        load({ FAIRMIND_ADMIN_EMAIL: email, FAIRMIND_ADMIN_PASSWORD: password }).admin,
      ).toEqual({ email, password });
    }
  });

  it('refuses 7 bytes', () => {
    expect(
      badVariables({ FAIRMIND_ADMIN_EMAIL: email, FAIRMIND_ADMIN_PASSWORD: '1234567' }),
    ).toEqual(['FAIRMIND_ADMIN_PASSWORD']);
  });

  it('refuses a 73-byte multibyte password of only 37 characters instead of truncating it', () => {
    const password = `${'é'.repeat(36)}a`;
    expect(password).toHaveLength(37);
    const error = failure({ FAIRMIND_ADMIN_EMAIL: email, FAIRMIND_ADMIN_PASSWORD: password });
    expect(issues(error)).toEqual([
      {
        variable: 'FAIRMIND_ADMIN_PASSWORD',
        message: expect.stringMatching(
          /8 to 72 bytes of UTF-8 \(it is 73\).*refused rather than silently truncated/,
        ),
      },
    ]);
    expect(error.message).not.toContain(password);
    expect(error.message).not.toContain('éé');
  });

  it('keeps a password verbatim, spaces included', () => {
    const password = '  spaced out  ';
    expect(
      load({ FAIRMIND_ADMIN_EMAIL: email, FAIRMIND_ADMIN_PASSWORD: password }).admin?.password,
    ).toBe(password);
  });
});

describe('CORS_ORIGINS', () => {
  const origins = (value: string) => load({ CORS_ORIGINS: value }).cors.origins;

  it('accepts *', () => {
    expect(origins('*')).toEqual(['*']);
  });

  it('accepts a comma list with ports, IPs, subdomain patterns and other schemes', () => {
    expect(
      origins(
        'https://app.example.com, http://localhost:5173,https://*.example.com, ' +
          'http://127.0.0.1:8080, http://[::1]:3000, capacitor://localhost,',
      ),
    ).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
      'https://*.example.com',
      'http://127.0.0.1:8080',
      'http://[::1]:3000',
      'capacitor://localhost',
    ]);
  });

  it('normalises case and default ports the way browsers send Origin', () => {
    expect(
      origins('HTTPS://App.Example.com:443,http://a.example.com:80,https://b.example.com:80'),
    ).toEqual(['https://app.example.com', 'http://a.example.com', 'https://b.example.com:80']);
  });

  it.each([
    ['https://app.example.com/', /no trailing slash/],
    ['https://app.example.com/path', /has a path/],
    ['https://app.example.com?x=1', /has a path or query/],
    ['*.example.com', /not an origin/],
    ['https://*', /not an origin/],
    ['https://a.*.example.com', /not an origin/],
    ['https://*.10.0.0.1', /not an origin/],
    ['https://app.example.com:99999', /not an origin/],
    ['https://user@app.example.com', /not an origin/],
    ['null', /not an origin/],
  ])('refuses %o', (value, message) => {
    expect(issues(failure({ CORS_ORIGINS: `https://ok.example.com,${value}` }))).toEqual([
      { variable: 'CORS_ORIGINS', message: expect.stringMatching(message) },
    ]);
  });

  it('names every bad entry in one line', () => {
    const error = failure({ CORS_ORIGINS: 'example.com, https://ok.example.com, https://x.com/' });
    expect(issues(error)[0]?.message).toMatch(/"example.com".*; "https:\/\/x.com\/"/);
  });
});

describe('TRUSTED_PROXIES', () => {
  it('accepts addresses, ranges and keywords', () => {
    const config = load({ TRUSTED_PROXIES: '10.0.0.0/8, 203.0.113.7, loopback' });
    expect(config.trustedProxies).toEqual(expect.arrayContaining(['10.0.0.0/8']));
    expect(config.trustedProxies).toHaveLength(3);
  });

  it.each(['0.0.0.0/0', '::/0', '10.0.0.0/8, 0.0.0.0/0'])('refuses trust-everyone %o', (value) => {
    const error = failure({ TRUSTED_PROXIES: value });
    expect(issues(error)).toEqual([
      { variable: 'TRUSTED_PROXIES', message: expect.stringMatching(/trust every address/) },
    ]);
    expect(error.message).toMatch(/^ {2}TRUSTED_PROXIES is invalid: /m);
  });
});

describe('configSchema', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('parses an environment into typed values', () => {
    const result = configSchema.safeParse({ PORT: '8080', NODE_ENV: 'test' });
    expect(result.success).toBe(true);
    expect(result.data).toMatchObject({ PORT: 8080, NODE_ENV: 'test', DATABASE_TIMEOUT: 30 });
  });

  it('reports each bad variable at its path', () => {
    const result = configSchema.safeParse({ PORT: 'x', REDIS_TTL: '0' });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path)).toEqual([['PORT'], ['REDIS_TTL']]);
  });
});
