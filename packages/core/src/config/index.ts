import { z } from 'zod';
import { FairmindError } from '../errors/index.js';
import { parseTrustedProxies } from '../ip/index.js';
import { oneOfRule, wholeNumberRule } from '../options/index.js';
import { isHostname, isIpv6, parsesAsUrl } from '../rules/host.js';
// The domain rules this config shares with their owners (edge's cors(), auth's key ring and
// hasher) live in core's rules module: core cannot import edge or auth (they depend on it),
// so the owners import the rules from @fairmind/core/rules and this file does too.
import {
  hmacSecretLength,
  looksLikePem,
  MIN_HMAC_SECRET_LENGTH,
  PASSWORD_BYTE_LIMITS,
  parseCorsOrigin,
  SUPPORTED_JWT_ALGORITHMS,
  type SupportedJwtAlgorithm,
} from '../rules/index.js';

const PREFIX = '[@fairmind/core]';

type JwtAlgorithm = SupportedJwtAlgorithm;

const NODE_ENVS = ['development', 'production', 'test'] as const;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const RATE_LIMIT_BY = ['ip', 'principal'] as const;
type RateLimitBy = (typeof RATE_LIMIT_BY)[number];

// setTimeout clamps larger delays to 1 ms (with only a warning), which would turn a generous
// timeout into an immediate one.
const MAX_TIMEOUT_MS = 2_147_483_647;
const GENERATED_SECRET_BYTES = 48;

const SECRET_HINT = 'generate one with `openssl rand -base64 48`';

// A failed check carries its message; a plain value means the variable parsed.
class Invalid {
  constructor(readonly message: string) {}
}

function isSet(raw: string | undefined): raw is string {
  return raw !== undefined && raw !== '';
}

// Shown in messages so the reader sees what was read; long values are cut to keep one line.
function shown(value: string): string {
  const cut = value.length > 80 ? `${value.slice(0, 80)}...` : value;
  return `(got ${JSON.stringify(cut)})`;
}

/**
 * One environment variable: `''` (and, unless `secret`, whitespace) counts as unset and yields
 * `fallback`; otherwise `parse` decides. Secrets are taken verbatim: a password may end in a
 * space on purpose.
 */
function variable<T, D>(
  fallback: D,
  parse: (value: string) => T | Invalid,
  { secret = false }: { secret?: boolean } = {},
) {
  return z
    .string()
    .optional()
    .transform((raw, ctx): T | D => {
      const value = raw === undefined || secret ? raw : raw.trim();
      if (!isSet(value)) return fallback;
      const result = parse(value);
      if (result instanceof Invalid) {
        ctx.addIssue({ code: 'custom', message: result.message });
        return z.NEVER;
      }
      return result;
    });
}

// The shared option rules, read from text: an environment variable is a string.
function integer(min: number, max: number, unit = '') {
  const rule = wholeNumberRule({ min, max, unit, open: 'sign' });
  return (value: string): number | Invalid => {
    const n = Number(value);
    // Number() alone would take '1e3', '0x10' and ' 2'; only plain decimal digits are meant.
    if (!/^\d+$/.test(value) || !rule.accepts(n)) {
      return new Invalid(`must be ${rule.expected} ${shown(value)}`);
    }
    return n;
  };
}

function oneOf<const T extends readonly string[]>(allowed: T, why = '') {
  const rule = oneOfRule(allowed);
  return (value: string): T[number] | Invalid =>
    rule.accepts(value) ? value : new Invalid(`must be ${rule.expected}${why} ${shown(value)}`);
}

function schemeOf(value: string): string | undefined {
  return /^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1]?.toLowerCase();
}

// URLs may hold a password, so messages name the scheme at most, never the value.
function describeScheme(value: string): string {
  const scheme = schemeOf(value);
  return scheme === undefined ? 'got a value without a scheme' : `got a "${scheme}:" URL`;
}

/** The database `DATABASE_URL` names, and the driver its scheme selects. */
export interface DatabaseTarget {
  url: string;
  driver: 'postgres' | 'sqlite';
}

function databaseUrl(value: string): DatabaseTarget | Invalid {
  const accepted =
    'must be a postgres:// or postgresql:// URL, or sqlite:<path> such as ' +
    'sqlite:./data/fairmind.db or sqlite::memory:';
  const scheme = schemeOf(value);
  if (scheme === 'postgres' || scheme === 'postgresql') {
    // pg accepts `user@/db?host=/socket` (an empty host) which WHATWG URL refuses.
    if (!parsesAsUrl(value) && !parsesAsUrl(value.replace('@/', '@localhost/'))) {
      return new Invalid(
        'is not a valid URL: percent-encode special characters (such as @ # / ?) in the user ' +
          'name and password',
      );
    }
    return { url: value, driver: 'postgres' };
  }
  if (scheme === 'sqlite') {
    if (value.length === 'sqlite:'.length) {
      return new Invalid(`${accepted}; the path after sqlite: is empty`);
    }
    return { url: value, driver: 'sqlite' };
  }
  // A bare path is refused rather than taken as SQLite: a mistyped PostgreSQL URL would
  // otherwise start the platform on an empty local file without a word.
  const hint = scheme === undefined ? ' (put sqlite: in front of a file path)' : '';
  return new Invalid(`${accepted}; ${describeScheme(value)}${hint}`);
}

/**
 * A comma-separated list of URLs, blanks ignored, each checked by `check` (its complaint,
 * or undefined): `list` names what the list holds, `none` is the complaint when it is empty.
 */
function urlList(
  value: string,
  what: { list: string; none: string },
  check: (url: string) => string | undefined,
): string[] | Invalid {
  const urls = value
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  if (urls.length === 0) return new Invalid(what.none);
  for (const [index, url] of urls.entries()) {
    const problem = check(url);
    if (problem !== undefined) {
      return new Invalid(
        `must be a comma-separated list of ${what.list}; entry ${index + 1} ${problem}`,
      );
    }
  }
  return urls;
}

// Read replicas are PostgreSQL URLs, listed as REDIS_CLUSTER_NODES are (one URL holds one host).
function replicaUrls(value: string): readonly string[] | Invalid {
  const urls = urlList(
    value,
    {
      list: 'postgres:// or postgresql:// URLs, one per replica',
      none: 'must list at least one postgres:// URL of a streaming replica',
    },
    (url) => {
      const checked = databaseUrl(url);
      if (checked instanceof Invalid) {
        return checked.message.replace(/^must be[^;]*; /, '').replace(/ \(put sqlite:.*\)$/, '');
      }
      return checked.driver === 'postgres' ? undefined : 'is a sqlite: URL';
    },
  );
  if (urls instanceof Invalid) return urls;
  if (new Set(urls).size !== urls.length) {
    return new Invalid('lists the same replica twice: give each replica once');
  }
  return urls;
}

function redisUrl(value: string): string | Invalid {
  const scheme = schemeOf(value);
  if (scheme !== 'redis' && scheme !== 'rediss') {
    return new Invalid(`must be a redis:// or rediss:// (TLS) URL; ${describeScheme(value)}`);
  }
  if (!parsesAsUrl(value)) {
    return new Invalid(
      'is not a valid URL: percent-encode special characters (such as @ # / ?) in the password',
    );
  }
  return value;
}

// A list of URLs rather than one URL with several hosts: a WHATWG URL holds one host, and a
// list of ordinary redis:// URLs carries credentials and TLS in the form users already know.
function redisClusterNodes(value: string): readonly string[] | Invalid {
  const nodes = urlList(
    value,
    {
      list: 'redis:// or rediss:// URLs, one per cluster node',
      none: 'must list at least one redis:// or rediss:// URL of a cluster node',
    },
    (node) => {
      const checked = redisUrl(node);
      return checked instanceof Invalid ? checked.message.replace(/^must be/, 'is not') : undefined;
    },
  );
  if (nodes instanceof Invalid) return nodes;
  const first = new URL(nodes[0] as string);
  for (const node of nodes.slice(1)) {
    const url = new URL(node);
    if (
      url.protocol !== first.protocol ||
      url.username !== first.username ||
      url.password !== first.password
    ) {
      return new Invalid(
        'must give every node the same scheme, user name and password: a Redis Cluster is ' +
          'one server to its clients, reached through whichever node answers',
      );
    }
  }
  return nodes;
}

function listenHost(value: string): string | Invalid {
  if (isHostname(value) || isIpv6(value)) return value;
  return new Invalid(
    `must be a hostname or IP address to listen on, such as 0.0.0.0, ::, 127.0.0.1 or ` +
      `localhost (IPv6 without brackets) ${shown(value)}`,
  );
}

// Browsers send the Origin header lower-cased and without a default port, so entries are
// normalised the same way (by the grammar cors() uses); otherwise
// 'https://App.example.com:443' could never match.
function corsOrigin(entry: string): string | Invalid {
  if (entry === '*') return entry;
  const origin = parseCorsOrigin(entry);
  if (origin === 'path') {
    return new Invalid(
      `${JSON.stringify(entry)} has a path or query: an origin is scheme://host[:port] with ` +
        'nothing after it (no trailing slash)',
    );
  }
  if (origin === 'malformed') {
    return new Invalid(
      `${JSON.stringify(entry)} is not an origin: expected * or scheme://host[:port], where ` +
        'host may start with *.',
    );
  }
  return origin.origin;
}

function corsOrigins(value: string): readonly string[] | Invalid {
  const origins: string[] = [];
  const problems: string[] = [];
  // Blank entries (a trailing comma) are skipped rather than refused.
  for (const entry of value.split(',').map((e) => e.trim())) {
    if (entry === '') continue;
    const result = corsOrigin(entry);
    if (result instanceof Invalid) problems.push(result.message);
    else if (!origins.includes(result)) origins.push(result);
  }
  if (problems.length === 0) return origins;
  const lead = problems.length === 1 ? 'has a bad entry' : 'has bad entries';
  return new Invalid(`${lead}: ${problems.join('; ')}`);
}

function trustedProxies(value: string): readonly string[] | Invalid {
  try {
    return parseTrustedProxies(value).list;
  } catch (error) {
    if (error instanceof FairmindError) {
      // The ip module's message carries its own prefix and names the setting; the config
      // error already does both.
      const reason = error.message.replace(
        /^\[@fairmind\/core\]\s*(?:Invalid trusted proxy list[^:]*:\s*)?/,
        '',
      );
      return new Invalid(`is invalid: ${reason}`);
    }
    throw error;
  }
}

function adminEmail(value: string): string | Invalid {
  return z.email().safeParse(value).success
    ? value
    : new Invalid(`must be an email address such as admin@example.com ${shown(value)}`);
}

function adminPassword(value: string): string | Invalid {
  const bytes = new TextEncoder().encode(value).length;
  const { min, max } = PASSWORD_BYTE_LIMITS;
  if (bytes < min || bytes > max) {
    // Length only: the password itself never appears in a message.
    return new Invalid(
      `must be ${min} to ${max} bytes of UTF-8 (it is ${bytes}); ` +
        'bcrypt ignores everything past byte 72, so a longer one is refused rather than ' +
        'silently truncated',
    );
  }
  return value;
}

// Env files often hold a PEM on one line with literal \n escapes; restore real newlines.
function jwtSecret(value: string): string {
  if (looksLikePem(value) && !value.includes('\n')) {
    return value.replaceAll('\\n', '\n');
  }
  return value;
}

// Timeouts are given in seconds, as the seed's DATABASE_TIMEOUT is, and may be fractional;
// setTimeout cannot wait longer than MAX_TIMEOUT_MS.
function seconds(value: string): number | Invalid {
  const amount = Number(value);
  if (!/^(?:\d+(?:\.\d*)?|\.\d+)$/.test(value) || amount <= 0 || amount * 1000 > MAX_TIMEOUT_MS) {
    return new Invalid(
      `must be a positive number of seconds such as 30 or 2.5, at most ` +
        `${Math.floor(MAX_TIMEOUT_MS / 1000)} ${shown(value)}`,
    );
  }
  return amount;
}

// A pause that may also be off: 0, or seconds as above.
function secondsOrZero(value: string): number | Invalid {
  if (/^0*(?:\.0*)?$/.test(value) && value !== '.') return 0;
  const result = seconds(value);
  return result instanceof Invalid
    ? new Invalid(result.message.replace(/^must be /, 'must be 0 (off) or '))
    : result;
}

const shape = {
  NODE_ENV: variable('development' as const, oneOf(NODE_ENVS, ' (staging servers use production)')),
  PORT: variable(3000, integer(0, 65535)),
  HOST: variable('0.0.0.0', listenHost),
  LOG_LEVEL: variable('info' as const, oneOf(LOG_LEVELS)),
  DATABASE_URL: variable(undefined, databaseUrl),
  DATABASE_REPLICA_URLS: variable(undefined, replicaUrls),
  DATABASE_REPLICA_MAX_LAG: variable(2, seconds),
  DATABASE_POOL_SIZE: variable(20, integer(1, 1000)),
  DATABASE_MAX_OVERFLOW: variable(30, integer(0, 1000)),
  DATABASE_TIMEOUT: variable(30, seconds),
  REDIS_URL: variable(undefined, redisUrl),
  REDIS_CLUSTER_NODES: variable(undefined, redisClusterNodes),
  REDIS_TTL: variable(3600, integer(1, Number.MAX_SAFE_INTEGER, ' of seconds')),
  JWT_SECRET: variable(undefined, jwtSecret, { secret: true }),
  JWT_ALGORITHM: variable('HS256' as JwtAlgorithm, oneOf(SUPPORTED_JWT_ALGORITHMS)),
  JWT_EXPIRE_MINUTES: variable(30, (value: string): number | Invalid => {
    const result = integer(1, 1440, ' of minutes')(value);
    return result instanceof Invalid
      ? new Invalid(`${result.message}; sessions longer than a day belong in refresh tokens`)
      : result;
  }),
  RATE_LIMIT_REQUESTS: variable(1000, integer(1, Number.MAX_SAFE_INTEGER)),
  RATE_LIMIT_WINDOW: variable(60, integer(1, Number.MAX_SAFE_INTEGER, ' of seconds')),
  RATE_LIMIT_BY: variable('ip' as RateLimitBy, oneOf(RATE_LIMIT_BY)),
  RATE_LIMIT_LEASE: variable(100, integer(0, 1_000_000)),
  REVOCATION_STALE_MS: variable(100, integer(0, 60_000, ' of ms')),
  CORS_ORIGINS: variable([] as readonly string[], corsOrigins),
  TRUSTED_PROXIES: variable([] as readonly string[], trustedProxies),
  FAIRMIND_ADMIN_EMAIL: variable(undefined, adminEmail),
  FAIRMIND_ADMIN_PASSWORD: variable(undefined, adminPassword, { secret: true }),
  SHUTDOWN_TIMEOUT: variable(10, seconds),
  SHUTDOWN_DELAY: variable(0, secondsOrZero),
};

type Variable = keyof typeof shape;
const VARIABLES = Object.keys(shape) as Variable[];

// A variable that failed its own check holds z.NEVER; rules across variables skip it so a
// single typo does not also produce a second, misleading complaint.
function usable(value: unknown): boolean {
  return value !== (z.NEVER as unknown);
}

type PemCheck = { kind: 'private'; label: string } | { kind: 'other'; label: string } | undefined;

function pemOf(secret: string): PemCheck {
  const match = /^-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+-----END \1-----$/.exec(secret.trim());
  if (!match?.[1]) return undefined;
  const label = match[1];
  return label.endsWith('PRIVATE KEY') ? { kind: 'private', label } : { kind: 'other', label };
}

// Which PKCS#1/SEC1 labels fit which algorithm; the generic PKCS#8 label fits all of them.
const PEM_FAMILY: Readonly<Record<string, 'RS256' | 'ES256'>> = {
  'RSA PRIVATE KEY': 'RS256',
  'EC PRIVATE KEY': 'ES256',
};

function asymmetricSecretProblem(
  algorithm: JwtAlgorithm,
  secret: string | undefined,
): string | undefined {
  const need =
    `JWT_ALGORITHM=${algorithm} signs with a private key, so JWT_SECRET must hold one in PEM ` +
    'form (-----BEGIN PRIVATE KEY----- ... -----END PRIVATE KEY-----)';
  if (secret === undefined) {
    return (
      `is required: ${need}. Unlike an HMAC secret it cannot be generated for you, because ` +
      'the matching public key must be published to whoever verifies the tokens; create one ' +
      'with `openssl genpkey -algorithm ed25519` (EdDSA), `-algorithm EC -pkeyopt ' +
      'ec_paramgen_curve:P-256` (ES256) or `-algorithm RSA -pkeyopt rsa_keygen_bits:2048` (RS256)'
    );
  }
  const pem = pemOf(secret);
  if (pem === undefined) return `is not a PEM key: ${need}`;
  if (pem.kind === 'other') {
    return `holds a PEM "${pem.label}", not a private key: ${need}`;
  }
  if (pem.label.startsWith('ENCRYPTED')) {
    return `holds an encrypted private key, and there is no passphrase setting: ${need}, unencrypted`;
  }
  const family = PEM_FAMILY[pem.label];
  if (family !== undefined && family !== algorithm) {
    return `holds an "${pem.label}", which cannot sign ${algorithm}: ${need}`;
  }
  return undefined;
}

function hmacSecretProblem(
  algorithm: JwtAlgorithm,
  secret: string | undefined,
): string | undefined {
  if (secret === undefined) {
    return (
      `is required when NODE_ENV=production: set it to at least ${MIN_HMAC_SECRET_LENGTH} random ` +
      `characters (${SECRET_HINT})`
    );
  }
  if (looksLikePem(secret)) {
    return (
      `looks like a PEM key, but JWT_ALGORITHM=${algorithm} uses it as a shared HMAC secret: ` +
      'that is the algorithm-confusion mistake (anyone holding the public half can forge ' +
      'tokens). Set JWT_ALGORITHM to RS256, ES256 or EdDSA to sign with this key, or set ' +
      `JWT_SECRET to at least ${MIN_HMAC_SECRET_LENGTH} random characters (${SECRET_HINT})`
    );
  }
  const length = hmacSecretLength(secret);
  if (length < MIN_HMAC_SECRET_LENGTH) {
    return (
      `is ${length} characters; NODE_ENV=production needs at least ${MIN_HMAC_SECRET_LENGTH} so it ` +
      `cannot be guessed offline from a token (${SECRET_HINT})`
    );
  }
  return undefined;
}

/**
 * The zod schema that turns the environment (a `Record<string, string | undefined>`) into
 * typed settings, keyed by variable name. Unknown variables are ignored; `''` counts as unset,
 * and so does whitespace except in `JWT_SECRET` and `FAIRMIND_ADMIN_PASSWORD`, which are taken
 * verbatim. Every variable is checked even when another one failed, so one parse reports all
 * problems. Most code wants {@link loadConfig}, which adds the generated development secret,
 * warnings and the nested {@link FairmindConfig} shape.
 *
 * @example
 * ```ts
 * const result = configSchema.safeParse({ PORT: '8080', NODE_ENV: 'test' });
 * if (result.success) console.log(result.data.PORT); // 8080
 * ```
 */
export const configSchema = z.object(shape).superRefine(
  (env, ctx) => {
    const issue = (variable: Variable, message: string) =>
      ctx.addIssue({ code: 'custom', message, path: [variable] });

    const algorithm = env.JWT_ALGORITHM;
    const secret = env.JWT_SECRET;
    if (usable(algorithm) && usable(secret)) {
      if (!algorithm.startsWith('HS')) {
        const problem = asymmetricSecretProblem(algorithm, secret);
        if (problem !== undefined) issue('JWT_SECRET', problem);
      } else if (env.NODE_ENV === 'production') {
        const problem = hmacSecretProblem(algorithm, secret);
        if (problem !== undefined) issue('JWT_SECRET', problem);
      }
    }

    if (
      env.DATABASE_REPLICA_URLS !== undefined &&
      usable(env.DATABASE_REPLICA_URLS) &&
      (env.DATABASE_URL === undefined ||
        (usable(env.DATABASE_URL) && env.DATABASE_URL.driver !== 'postgres'))
    ) {
      issue(
        'DATABASE_REPLICA_URLS',
        'needs DATABASE_URL to name the PostgreSQL primary they replicate: replicas serve ' +
          'reads only, and SQLite has none',
      );
    }

    if (env.REDIS_URL !== undefined && env.REDIS_CLUSTER_NODES !== undefined) {
      issue(
        'REDIS_CLUSTER_NODES',
        'cannot be set together with REDIS_URL: set REDIS_URL for one Redis server (or a ' +
          'Sentinel-managed primary behind one address), REDIS_CLUSTER_NODES for a Redis Cluster',
      );
    }

    if (
      usable(env.SHUTDOWN_DELAY) &&
      usable(env.SHUTDOWN_TIMEOUT) &&
      env.SHUTDOWN_DELAY >= env.SHUTDOWN_TIMEOUT
    ) {
      issue(
        'SHUTDOWN_DELAY',
        `must be shorter than SHUTDOWN_TIMEOUT (${env.SHUTDOWN_TIMEOUT} s), which bounds the ` +
          'whole shutdown: the in-flight requests still have to finish after the delay',
      );
    }

    // Present-but-invalid still counts as set here, so only the missing half is reported.
    const hasEmail = env.FAIRMIND_ADMIN_EMAIL !== undefined;
    const hasPassword = env.FAIRMIND_ADMIN_PASSWORD !== undefined;
    if (hasEmail !== hasPassword) {
      const [missing, present] = hasEmail
        ? (['FAIRMIND_ADMIN_PASSWORD', 'FAIRMIND_ADMIN_EMAIL'] as const)
        : (['FAIRMIND_ADMIN_EMAIL', 'FAIRMIND_ADMIN_PASSWORD'] as const);
      issue(
        missing,
        `is required because ${present} is set: set both to create the first admin account, ` +
          'or neither',
      );
    }
  },
  // Run even when a single variable failed, so cross-variable problems show up in the same
  // message instead of after the first fix.
  { when: () => true },
);

/** The settings {@link loadConfig} reads from the environment. */
export interface FairmindConfig {
  /**
   * `NODE_ENV`. Production turns the JWT secret rules from warnings into refusals.
   * @default 'development'
   */
  env: 'development' | 'production' | 'test';
  /**
   * `PORT`, 0 to 65535 (0 lets the OS pick).
   * @default 3000
   */
  port: number;
  /**
   * `HOST`, the address to listen on.
   * @default '0.0.0.0'
   */
  host: string;
  /**
   * `LOG_LEVEL`, a pino level.
   * @default 'info'
   */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  database: {
    /** `DATABASE_URL` as given; absent means the embedded SQLite database. */
    url?: string;
    /**
     * From the URL scheme: `postgres://`/`postgresql://` or `sqlite:`.
     * @default 'sqlite'
     */
    driver: 'postgres' | 'sqlite';
    /**
     * `DATABASE_POOL_SIZE`, connections kept open, 1 to 1000.
     * @default 20
     */
    poolSize: number;
    /**
     * `DATABASE_MAX_OVERFLOW`, extra connections opened under load, 0 to 1000.
     * @default 30
     */
    maxOverflow: number;
    /**
     * `DATABASE_TIMEOUT` (seconds, may be fractional) in milliseconds.
     * @default 30000
     */
    timeoutMs: number;
    /**
     * `DATABASE_REPLICA_URLS`: postgres:// URLs of streaming replicas of `url`, for the
     * platform's list and dashboard reads; absent means every read runs on `url`.
     */
    replicaUrls?: readonly string[];
    /**
     * `DATABASE_REPLICA_MAX_LAG` (seconds, may be fractional) in milliseconds: a replica
     * further behind is left out of reads until it catches up.
     * @default 2000
     */
    replicaMaxLagMs: number;
  };
  /**
   * `SHUTDOWN_TIMEOUT` (seconds, may be fractional) in milliseconds: how long a SIGTERM
   * drain may take before the requests still running are cut and the process exits 1.
   * Keep it below your orchestrator's grace period (Kubernetes' is 30 s).
   * @default 10000
   */
  drainTimeoutMs: number;
  /**
   * `SHUTDOWN_DELAY` (seconds, may be fractional; 0 is off) in milliseconds: after SIGTERM,
   * for at most this long the port stays open and every new request is answered 503
   * `SHUTTING_DOWN` (`Retry-After: 1`, nothing done), so that a balancer which learns only
   * from failures, such as nginx, retries it on another instance and stops sending here before
   * the port closes; the port closes as soon as no request has come for 250 ms. Part of
   * `SHUTDOWN_TIMEOUT`, so it must be shorter. Leave it 0 behind a balancer that stops
   * sending before SIGTERM (Kubernetes with a `preStop` pause).
   * @default 0
   */
  shutdownDelayMs: number;
  redis: {
    /**
     * `REDIS_URL` (redis:// or rediss://); absent, with no `REDIS_CLUSTER_NODES`, means
     * in-memory cache and rate limits.
     */
    url?: string;
    /**
     * `REDIS_CLUSTER_NODES`: redis:// or rediss:// URLs of some nodes of a Redis Cluster
     * (comma-separated in the variable; the client discovers the rest), all with the same
     * scheme and credentials. Exclusive with `REDIS_URL`.
     */
    clusterNodes?: readonly string[];
    /**
     * `REDIS_TTL`, default cache entry lifetime in seconds.
     * @default 3600
     */
    ttlSeconds: number;
  };
  jwt: {
    /**
     * `JWT_SECRET`: the HMAC secret, or the PEM private key for RS256/ES256/EdDSA.
     * @default a random 48-byte secret in development and test with an HS algorithm
     */
    secret: string;
    /**
     * `JWT_ALGORITHM`.
     * @default 'HS256'
     */
    algorithm: 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'ES256' | 'EdDSA';
    /**
     * `JWT_EXPIRE_MINUTES`, access-token lifetime, 1 to 1440.
     * @default 30
     */
    expireMinutes: number;
    /**
     * True when `secret` was generated for this process: tokens die with it.
     * @default false
     */
    secretGenerated: boolean;
    /**
     * `REVOCATION_STALE_MS`: with Redis, token answers are kept in memory and each
     * instance reads the revocation counter at least this often while requests come; a
     * revocation answers this long after it is written, once every instance refuses the
     * token. `0` asks Redis on every request.
     * @default 100
     */
    revocationStaleMs: number;
  };
  rateLimit: {
    /**
     * `RATE_LIMIT_REQUESTS` allowed per window and client.
     * @default 1000
     */
    requests: number;
    /**
     * `RATE_LIMIT_WINDOW` in seconds.
     * @default 60
     */
    windowSeconds: number;
    /**
     * `RATE_LIMIT_BY`: count per client IP, or per API key or user once authenticated
     * (`principal`; anonymous requests are still counted per IP).
     * @default 'ip'
     */
    by: 'ip' | 'principal';
    /**
     * `RATE_LIMIT_LEASE`: with Redis, the most units one instance reserves for a busy client
     * in one round trip and hands out itself; `0` asks Redis on every request.
     * @default 100
     */
    lease: number;
  };
  cors: {
    /**
     * `CORS_ORIGINS`, comma separated: `*`, or origins like `https://app.example.com` and
     * `https://*.example.com`, lower-cased and without default ports.
     * @default []
     */
    origins: readonly string[];
  };
  /**
   * `TRUSTED_PROXIES`, comma separated addresses or CIDR ranges whose forwarding headers are
   * believed.
   * @default []
   */
  trustedProxies: readonly string[];
  /** `FAIRMIND_ADMIN_EMAIL` and `FAIRMIND_ADMIN_PASSWORD`, present only when both are set. */
  admin?: { email: string; password: string };
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /**
   * The variables to read.
   * @default process.env when present, else {}
   */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /**
   * Called for each warning, such as a generated development JWT secret.
   * @default console.warn
   */
  warn?: ((message: string) => void) | undefined;
}

/** One bad variable, as listed in the `details.issues` of a `CONFIG_INVALID` error. */
interface ConfigIssue {
  variable: string;
  message: string;
}

function configError(issues: readonly z.core.$ZodIssue[]): FairmindError {
  const byVariable = new Map<string, string[]>();
  for (const issue of issues) {
    const key = issue.path[0];
    const name = typeof key === 'string' ? key : '(environment)';
    const messages = byVariable.get(name) ?? [];
    messages.push(issue.message);
    byVariable.set(name, messages);
  }
  const order = (name: string) => {
    const index = VARIABLES.indexOf(name as Variable);
    return index === -1 ? VARIABLES.length : index;
  };
  const list: ConfigIssue[] = [...byVariable]
    .sort(([a], [b]) => order(a) - order(b))
    .map(([variable, messages]) => ({ variable, message: messages.join('; ') }));
  const lines = list.map(({ variable, message }) => `  ${variable} ${message}`);
  return new FairmindError(
    'CONFIG_INVALID',
    500,
    `${PREFIX} invalid configuration:\n${lines.join('\n')}`,
    { details: { issues: list } },
  );
}

function generateSecret(): string {
  const crypto = globalThis.crypto as Crypto | undefined;
  if (crypto?.getRandomValues === undefined) {
    throw new FairmindError(
      'CONFIG_INVALID',
      500,
      `${PREFIX} JWT_SECRET is not set and this runtime has no Web Crypto to generate one: ` +
        `set JWT_SECRET (${SECRET_HINT})`,
    );
  }
  const bytes = crypto.getRandomValues(new Uint8Array(GENERATED_SECRET_BYTES));
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  // 48 bytes are a multiple of 3, so base64 has no padding to strip.
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_');
}

function defaultEnv(): Readonly<Record<string, string | undefined>> {
  return typeof process === 'undefined' ? {} : process.env;
}

/**
 * Reads and checks the FairMind settings from the environment. Every bad variable is
 * reported at once in a single `CONFIG_INVALID` {@link FairmindError} whose message lists
 * one variable a line with what is accepted; secret values are never echoed. In
 * development and test without `JWT_SECRET` (HS algorithms only) a random secret is
 * generated and `warn` says that tokens will not survive a restart.
 *
 * @example
 * ```ts
 * const config = loadConfig();
 * server.listen(config.port, config.host);
 *
 * // In tests, pass the variables instead of touching process.env:
 * const testConfig = loadConfig({ env: { NODE_ENV: 'test', PORT: '0' }, warn: () => {} });
 * ```
 */
export function loadConfig(options: LoadConfigOptions = {}): FairmindConfig {
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const result = configSchema.safeParse(options.env ?? defaultEnv());
  if (!result.success) throw configError(result.error.issues);
  const env = result.data;

  let secret = env.JWT_SECRET;
  let secretGenerated = false;
  if (secret === undefined) {
    // The schema only lets this through for an HS algorithm outside production.
    secret = generateSecret();
    secretGenerated = true;
    warn(
      `${PREFIX} JWT_SECRET is not set, so a random one was generated for this process: ` +
        'tokens it signs will not survive a restart and other instances will reject them. ' +
        `Set JWT_SECRET to at least ${MIN_HMAC_SECRET_LENGTH} random characters (${SECRET_HINT}) to ` +
        'keep sessions.',
    );
  } else if (env.JWT_ALGORITHM.startsWith('HS') && env.NODE_ENV === 'development') {
    if (looksLikePem(secret)) {
      warn(
        `${PREFIX} JWT_SECRET looks like a PEM key but JWT_ALGORITHM=${env.JWT_ALGORITHM} ` +
          'uses it as an HMAC secret; NODE_ENV=production refuses this. Use RS256, ES256 or ' +
          'EdDSA to sign with a key pair.',
      );
    } else if (hmacSecretLength(secret) < MIN_HMAC_SECRET_LENGTH) {
      warn(
        `${PREFIX} JWT_SECRET is shorter than ${MIN_HMAC_SECRET_LENGTH} characters: accepted in ` +
          `development, refused with NODE_ENV=production (${SECRET_HINT}).`,
      );
    }
  }

  const database: FairmindConfig['database'] = {
    driver: env.DATABASE_URL?.driver ?? 'sqlite',
    poolSize: env.DATABASE_POOL_SIZE,
    maxOverflow: env.DATABASE_MAX_OVERFLOW,
    timeoutMs: Math.max(1, Math.round(env.DATABASE_TIMEOUT * 1000)),
    replicaMaxLagMs: Math.max(1, Math.round(env.DATABASE_REPLICA_MAX_LAG * 1000)),
  };
  if (env.DATABASE_URL !== undefined) database.url = env.DATABASE_URL.url;
  if (env.DATABASE_REPLICA_URLS !== undefined) database.replicaUrls = env.DATABASE_REPLICA_URLS;

  const redis: FairmindConfig['redis'] = { ttlSeconds: env.REDIS_TTL };
  if (env.REDIS_URL !== undefined) redis.url = env.REDIS_URL;
  if (env.REDIS_CLUSTER_NODES !== undefined) redis.clusterNodes = env.REDIS_CLUSTER_NODES;

  const config: FairmindConfig = {
    env: env.NODE_ENV,
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    database,
    redis,
    jwt: {
      secret,
      algorithm: env.JWT_ALGORITHM,
      expireMinutes: env.JWT_EXPIRE_MINUTES,
      secretGenerated,
      revocationStaleMs: env.REVOCATION_STALE_MS,
    },
    rateLimit: {
      requests: env.RATE_LIMIT_REQUESTS,
      windowSeconds: env.RATE_LIMIT_WINDOW,
      by: env.RATE_LIMIT_BY,
      lease: env.RATE_LIMIT_LEASE,
    },
    cors: { origins: env.CORS_ORIGINS },
    trustedProxies: env.TRUSTED_PROXIES,
    drainTimeoutMs: Math.max(1, Math.round(env.SHUTDOWN_TIMEOUT * 1000)),
    shutdownDelayMs: Math.round(env.SHUTDOWN_DELAY * 1000),
  };
  if (env.FAIRMIND_ADMIN_EMAIL !== undefined && env.FAIRMIND_ADMIN_PASSWORD !== undefined) {
    config.admin = { email: env.FAIRMIND_ADMIN_EMAIL, password: env.FAIRMIND_ADMIN_PASSWORD };
  }
  return config;
}
