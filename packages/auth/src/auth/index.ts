import { randomUUID } from 'node:crypto';
import {
  type Exchange,
  type FairmindConfig,
  FairmindError,
  type Logger,
  type Middleware,
  silentLogger,
} from '@fairmind/core';
import { counter } from '@fairmind/core/metrics';
import { LRUCache } from 'lru-cache';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import {
  type ApiKeyManager,
  type ApiKeyRecord,
  type ApiKeyStore,
  createApiKeyManager,
} from '../apikeys/index.js';
import {
  type AuditDetail,
  type AuditEventType,
  type AuditSink,
  auditEvent,
} from '../audit/index.js';
import { withDeadline } from '../deadline/index.js';
import {
  describe,
  forbidden,
  invalid,
  PREFIX,
  refreshTokenReused,
  storeUnavailable,
  tokenExpired,
  tokenInvalid,
  tokenRevoked,
  validationFailed,
} from '../errors/index.js';
import {
  ACCESS_TOKEN_TYPE,
  createJwtVerifier,
  DEFAULT_MAX_TOKEN_BYTES,
  type JwtClaims,
  REFRESH_TOKEN_TYPE,
  signJwt,
  type VerifiedJwt,
} from '../jwt/index.js';
import { createKeyRing, type Jwk, type JwtAlgorithm, type KeyInput } from '../keys/index.js';
import { type KeyOptionName, keyOptionNames } from '../keys/internal.js';
import {
  type AttemptStore,
  createLoginThrottle,
  createMemoryAttemptStore,
  type LockoutPolicy,
} from '../lockout/index.js';
import {
  type AuthenticateOptions,
  createAuthenticate,
  createRequirePermission,
  createRequireRole,
  type MiddlewareDeps,
} from '../middleware/index.js';
import {
  checkNewPassword,
  createPasswordHasher,
  type PasswordHasher,
  type PasswordHasherOptions,
} from '../passwords/index.js';
import {
  createRbac,
  type Decision,
  type Principal,
  type Rbac,
  type RbacOptions,
} from '../rbac/index.js';
import { createMemoryRefreshFamilyStore, type RefreshFamilyStore } from '../refresh/index.js';
import {
  createMemoryRevocationStore,
  type RevocationQuery,
  type RevocationReason,
  type RevocationStore,
} from '../revocation/index.js';
import { guardStore } from '../store-guard/index.js';
import { normaliseEmail, type UserRecord, type UserStore } from '../users/index.js';

/** Options of {@link createAuth}. */
export interface AuthOptions {
  /**
   * The HMAC secret (`JWT_SECRET`) for HS256/384/512: at least 32 characters in production,
   * never a PEM. The shortcut for a ring of one key; use `keys` to rotate.
   */
  secret?: string | Uint8Array | undefined;
  /**
   * The algorithm of `secret`, `privateKey` and `publicKey` (`JWT_ALGORITHM`).
   * @default 'HS256'
   */
  algorithm?: JwtAlgorithm | undefined;
  /** RS256/ES256/EdDSA: the signing key, PEM (PKCS#8, PKCS#1, SEC1) or JWK. */
  privateKey?: string | Jwk | undefined;
  /** RS256/ES256/EdDSA: the verifying key, SPKI PEM or JWK (derived from `privateKey` if left out). */
  publicKey?: string | Jwk | undefined;
  /** A key ring with `kid`s, for rotation; replaces `secret`/`privateKey`/`publicKey`. */
  keys?: readonly KeyInput[] | undefined;
  /** The `kid` that signs (see `createKeyRing`). @default the first key that can sign */
  signingKid?: string | undefined;
  /** @default 'fairmind' */
  issuer?: string | undefined;
  /** @default 'fairmind-api' */
  audience?: string | undefined;
  /**
   * Access-token lifetime (`JWT_EXPIRE_MINUTES` x 60).
   * @default 1800
   */
  accessTokenTtlSeconds?: number | undefined;
  /**
   * Lifetime of each refresh token; a refresh issues a new one.
   * @default 1_209_600 (14 days)
   */
  refreshTokenTtlSeconds?: number | undefined;
  /**
   * Absolute lifetime of a sign-in (refresh family): no refresh extends it.
   * @default 2_592_000 (30 days)
   */
  familyLifetimeSeconds?: number | undefined;
  /** @default 5 */
  clockToleranceSeconds?: number | undefined;
  /** @default 8192 */
  maxTokenBytes?: number | undefined;
  /**
   * Verified access tokens remembered, by their exact text, until their `exp`: a repeat skips
   * the signature work, never the revocation check. `0` turns it off.
   * @default 10_000
   */
  tokenCacheSize?: number | undefined;
  /** @default createMemoryRevocationStore() */
  revocation?: RevocationStore | undefined;
  /** @default createMemoryRefreshFamilyStore() */
  refreshFamilies?: RefreshFamilyStore | undefined;
  /**
   * What verification does when the revocation store fails or times out: `false` refuses the
   * credential with a 503 (fail closed); `true` accepts it and logs a warning.
   * @default false
   */
  failOpen?: boolean | undefined;
  /**
   * Deadline of one call to the revocation, refresh-token and login-attempt stores, in ms:
   * past it, verification, login, refresh and logout answer 503 `AUTH_STORE_UNAVAILABLE`
   * (unless `failOpen`, for verification). User and API-key stores are bounded by their
   * database's own connection timeout.
   * @default 1000
   */
  storeTimeoutMs?: number | undefined;
  /** Users, for `login`, `createUser` and API-key owners. */
  users?: UserStore | undefined;
  /** API keys; needs `users`. */
  apiKeys?: ApiKeyStore | undefined;
  /** HMAC pepper for API-key hashes (see `createApiKeyManager`). */
  apiKeyPepper?: string | Uint8Array | undefined;
  /** @default 'live' */
  apiKeyPrefix?: string | undefined;
  /** @default 60_000 */
  apiKeyLastUsedIntervalMs?: number | undefined;
  /** The per-key rate-limit hook (see `createApiKeyManager`). */
  apiKeyRateLimit?: ((key: ApiKeyRecord) => void | Promise<void>) | undefined;
  /** A password hasher, or options for the one created here. @default { cost: 12 } */
  passwords?: PasswordHasher | PasswordHasherOptions | undefined;
  /** Failure counters for the login lockout. @default createMemoryAttemptStore() */
  attempts?: AttemptStore | undefined;
  /** Lockout limits (see `createLoginThrottle`). */
  lockout?: { account?: Partial<LockoutPolicy>; ip?: Partial<LockoutPolicy> } | undefined;
  /** A RBAC table or options for one. @default createRbac() */
  rbac?: Rbac | RbacOptions | undefined;
  /** Audit sinks. @default [] */
  audit?: AuditSink | readonly AuditSink[] | undefined;
  /**
   * Production rules: HMAC secrets of 32+ bytes, bcrypt cost 10+.
   * @default process.env.NODE_ENV === 'production'
   */
  production?: boolean | undefined;
  /** @default silentLogger */
  logger?: Logger | undefined;
  /** prom-client registry for the auth metrics. */
  registry?: Registry | undefined;
  /** The clock in milliseconds (tests pin it). @default Date.now */
  now?: (() => number) | undefined;
}

/** An access and a refresh token, as `/auth/login` and `/auth/refresh` answer. */
export interface TokenPair {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly tokenType: 'Bearer';
  /** Seconds until the access token expires. */
  readonly expiresIn: number;
}

/** A user without the password hash. */
export interface PublicUser {
  readonly id: string;
  readonly email: string;
  readonly role: string;
  /** ISO 8601. */
  readonly createdAt: string;
}

/** A successful login. */
export interface LoginResult extends TokenPair {
  readonly user: Pick<PublicUser, 'id' | 'email' | 'role'>;
}

/** An API key as lists show it: no secret. */
export interface ApiKeyView {
  readonly id: string;
  readonly name: string;
  readonly prefix: string;
  /** `null`: everything the owner's role grants. */
  readonly scopes: readonly string[] | null;
  readonly expiresAt: string | null;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
}

/** Where a call comes from, for the audit trail and the per-IP lockout. */
export interface RequestContext {
  /** The client IP (after trusted-proxy resolution). */
  readonly ip?: string | undefined;
}

/** What {@link createAuth} returns. */
export interface Auth {
  readonly rbac: Rbac;
  readonly passwords: PasswordHasher;
  /** Signs a new access and refresh token in a new family (a new sign-in). */
  issueTokens(user: { id: string; role: string }, context?: RequestContext): Promise<TokenPair>;
  /** The principal of an access token, or a 401 (`TOKEN_EXPIRED`, `TOKEN_INVALID`, `TOKEN_REVOKED`). */
  verifyAccessToken(token: string): Promise<Principal>;
  /** The principal of an API key, or a 401. */
  verifyApiKey(key: string): Promise<Principal>;
  /** Spends a refresh token for a new pair; a spent one revokes its family (`REFRESH_TOKEN_REUSED`). */
  refresh(refreshToken: string, context?: RequestContext): Promise<TokenPair>;
  /** Email and password in, tokens out; 401 `INVALID_CREDENTIALS` or 429 when locked out. */
  login(
    credentials: { email: string; password: string },
    context?: RequestContext,
  ): Promise<LoginResult>;
  /** Revokes the principal's access token and refresh family (and `refreshToken`'s, if given). */
  logout(
    principal: Principal,
    options?: RequestContext & { refreshToken?: string | undefined },
  ): Promise<void>;
  /** Revokes every token of a user issued until now. */
  logoutEverywhere(
    userId: string,
    context?: RequestContext & { actorId?: string | undefined },
  ): Promise<void>;
  /** Adds a user (409 when the email exists; 400 for a bad email, role or password). */
  createUser(
    input: { email: string; password: string; role: string },
    context?: RequestContext & { actorId?: string | undefined },
  ): Promise<PublicUser>;
  /** Changes a user's role or password; a new password logs the user out everywhere. */
  updateUser(
    id: string,
    changes: { role?: string | undefined; password?: string | undefined },
    context?: RequestContext & { actorId?: string | undefined },
  ): Promise<PublicUser>;
  /** Removes a user and revokes their tokens. */
  deleteUser(
    id: string,
    context?: RequestContext & { actorId?: string | undefined },
  ): Promise<void>;
  /** A new API key for the principal, with scopes within its own permissions; `key` is shown once. */
  createApiKey(
    principal: Principal,
    input: {
      name: string;
      scopes?: readonly string[] | undefined;
      expiresInDays?: number | undefined;
    },
    context?: RequestContext,
  ): Promise<ApiKeyView & { readonly key: string }>;
  /** The principal's API keys. */
  listApiKeys(principal: Principal): Promise<ApiKeyView[]>;
  /** Revokes one of the principal's API keys (404 when it is not theirs). */
  revokeApiKey(principal: Principal, id: string, context?: RequestContext): Promise<void>;
  /** Whether the principal may (role and, for API keys, scopes). */
  can(principal: Principal, permission: string): boolean;
  /** Like {@link can}, with the reason of a denial. */
  check(principal: Principal, permission: string): Decision;
  /** Middleware: `Authorization: Bearer` or `X-API-Key` to `exchange.state.auth`, else 401. */
  authenticate(options?: AuthenticateOptions): Middleware;
  /** Middleware: 403 unless the principal has every permission. */
  requirePermission(...permissions: string[]): Middleware;
  /** Middleware: 403 unless the principal has one of the roles. */
  requireRole(...roles: string[]): Middleware;
  /** Stops the password workers (when created here). */
  close(): Promise<void>;
}

const DEFAULTS = {
  issuer: 'fairmind',
  audience: 'fairmind-api',
  accessTokenTtlSeconds: 1800,
  refreshTokenTtlSeconds: 14 * 86_400,
  familyLifetimeSeconds: 30 * 86_400,
  tokenCacheSize: 10_000,
  storeTimeoutMs: 1000,
};

const settingsSchema = z.object({
  issuer: z.string().min(1).max(256),
  audience: z.string().min(1).max(256),
  accessTokenTtlSeconds: z.int().min(10).max(86_400),
  refreshTokenTtlSeconds: z
    .int()
    .min(60)
    .max(365 * 86_400),
  familyLifetimeSeconds: z
    .int()
    .min(60)
    .max(3 * 365 * 86_400),
  tokenCacheSize: z.int().min(0).max(10_000_000),
  storeTimeoutMs: z.int().min(1).max(60_000),
  failOpen: z.boolean(),
});

const emailSchema = z.email();

// What TOKEN_REVOKED names for each reason (the message ends "has been revoked: sign in again").
const REVOKED_WHAT: Readonly<Record<RevocationReason, string>> = {
  token: 'the token',
  family: 'the session of this token',
  subject: "the user's sessions",
  // The store lost its list after the token was issued: it may have been revoked since.
  reset: 'every session older than the revocation list (it was reset)',
};

// Label sets of the counters on the access-token path, made once rather than per verification
// (prom-client only reads them, and keeps the first one it sees for each series).
const CACHE_HIT = Object.freeze({ result: 'hit' });
const CACHE_MISS = Object.freeze({ result: 'miss' });
const ACCESS_OK = Object.freeze({ kind: 'access', outcome: 'ok' });

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function view(record: ApiKeyRecord): ApiKeyView {
  return {
    id: record.id,
    name: record.name,
    prefix: record.prefix,
    scopes: record.scopes,
    expiresAt: iso(record.expiresAt),
    createdAt: new Date(record.createdAt).toISOString(),
    lastUsedAt: iso(record.lastUsedAt),
    revokedAt: iso(record.revokedAt),
  };
}

function publicUser(user: UserRecord): PublicUser {
  return {
    id: user.id,
    email: user.email,
    role: user.role,
    createdAt: new Date(user.createdAt).toISOString(),
  };
}

function stringClaim(payload: JwtClaims, name: string): string {
  const value = payload[name];
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) {
    throw tokenInvalid(`the token's "${name}" claim is missing or not a string`);
  }
  return value;
}

const shortcutOptionName: KeyOptionName = (_index, field) => {
  if (field === 'secret') return 'secret (JWT_SECRET)';
  return field ?? 'algorithm';
};

function keyInputs(options: AuthOptions): readonly KeyInput[] {
  if (options.keys !== undefined) {
    if (
      options.secret !== undefined ||
      options.privateKey !== undefined ||
      options.publicKey !== undefined
    ) {
      throw invalid('keys', 'replaces secret, privateKey and publicKey: give one or the other');
    }
    return options.keys;
  }
  const algorithm = options.algorithm ?? 'HS256';
  if (algorithm.startsWith('HS')) {
    if (options.secret === undefined)
      throw invalid('secret', `is required for ${algorithm} (JWT_SECRET)`);
    return [{ algorithm, secret: options.secret }];
  }
  const input: KeyInput = { algorithm };
  if (options.privateKey !== undefined) input.privateKey = options.privateKey;
  if (options.publicKey !== undefined) input.publicKey = options.publicKey;
  if (options.secret !== undefined) {
    throw invalid('secret', `is for HS* algorithms; ${algorithm} takes privateKey and publicKey`);
  }
  return [input];
}

/**
 * Authentication for the FairMind toolkit: access and refresh JWTs (jose) with rotation and
 * reuse detection, revocation by `jti`, family and user cutoff, a verified-token cache that
 * never skips revocation, RBAC, API keys, bcrypt in worker threads, login lockout and an
 * audit trail. Options are checked here, once; stores default to memory.
 *
 * @example
 * ```ts
 * import { createAuth, createMemoryUserStore } from '@fairmind/auth';
 *
 * const auth = createAuth({ secret: process.env.JWT_SECRET, users: createMemoryUserStore() });
 * await auth.createUser({ email: 'ada@example.com', password: 'correct horse', role: 'analyst' });
 * const { accessToken } = await auth.login({ email: 'ada@example.com', password: 'correct horse' });
 * const principal = await auth.verifyAccessToken(accessToken); // { type: 'user', role: 'analyst', ... }
 * auth.can(principal, 'models:write'); // true
 * ```
 */
export function createAuth(options: AuthOptions): Auth {
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', 'must be an object such as { secret: process.env.JWT_SECRET }');
  }
  const parsed = settingsSchema.safeParse({
    ...DEFAULTS,
    failOpen: false,
    ...Object.fromEntries(
      Object.entries(options).filter(
        ([name, value]) => name in settingsSchema.shape && value !== undefined,
      ),
    ),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(
      String(issue?.path[0] ?? 'options'),
      issue?.message ?? 'is invalid',
      parsed.error,
    );
  }
  const settings = parsed.data;
  const production = options.production ?? process.env['NODE_ENV'] === 'production';
  const now = options.now ?? Date.now;
  const nowSeconds = () => Math.floor(now() / 1000);
  const logger = (options.logger ?? silentLogger).child({ component: '@fairmind/auth' });
  const ringOptions = {
    keys: keyInputs(options),
    ...(options.signingKid === undefined ? {} : { signingKid: options.signingKid }),
    production,
  };
  // A ring built from secret/privateKey/publicKey names those options in its errors.
  if (options.keys === undefined) keyOptionNames.set(ringOptions, shortcutOptionName);
  const keys = createKeyRing(ringOptions);
  const rbac =
    typeof (options.rbac as Rbac | undefined)?.check === 'function'
      ? (options.rbac as Rbac)
      : createRbac(options.rbac as RbacOptions | undefined);
  const ownPasswords =
    typeof (options.passwords as PasswordHasher | undefined)?.verify !== 'function';
  const passwords = ownPasswords
    ? createPasswordHasher({
        production,
        logger,
        ...(options.registry === undefined ? {} : { registry: options.registry }),
        ...(options.passwords as PasswordHasherOptions | undefined),
      })
    : (options.passwords as PasswordHasher);
  // Writes to these stores (logout, refresh, login) are bounded like the verification path's
  // check: a store whose server is away answers 503 within storeTimeoutMs, never a request
  // held until it returns. The check keeps its own synchronous fast path (revocationReason).
  const revocation = guardStore(
    options.revocation ?? createMemoryRevocationStore({ now }),
    'revocation store',
    settings.storeTimeoutMs,
    ['revokeToken', 'revokeFamily', 'revokeSubject'],
  );
  const families = guardStore(
    options.refreshFamilies ?? createMemoryRefreshFamilyStore({ now }),
    'refresh-token store',
    settings.storeTimeoutMs,
    ['create', 'rotate', 'revoke'],
  );
  const users = options.users;
  if (options.apiKeys !== undefined && users === undefined) {
    throw invalid('apiKeys', "needs users too: a key acts with its owner's current role");
  }
  const sinks: readonly AuditSink[] =
    options.audit === undefined
      ? []
      : Array.isArray(options.audit)
        ? options.audit
        : [options.audit as AuditSink];
  const throttle = createLoginThrottle({
    store: guardStore(
      options.attempts ?? createMemoryAttemptStore({ now }),
      'login attempt store',
      settings.storeTimeoutMs,
      ['get', 'fail', 'reset'],
    ),
    now,
    ...(options.lockout?.account === undefined ? {} : { account: options.lockout.account }),
    ...(options.lockout?.ip === undefined ? {} : { ip: options.lockout.ip }),
  });
  const apiKeys: ApiKeyManager | undefined =
    options.apiKeys === undefined || users === undefined
      ? undefined
      : createApiKeyManager({
          store: options.apiKeys,
          rbac,
          roleOf: async (id) => (await users.findById(id))?.role ?? null,
          now,
          logger,
          ...(options.apiKeyPepper === undefined ? {} : { pepper: options.apiKeyPepper }),
          ...(options.apiKeyPrefix === undefined ? {} : { prefix: options.apiKeyPrefix }),
          ...(options.apiKeyLastUsedIntervalMs === undefined
            ? {}
            : { lastUsedIntervalMs: options.apiKeyLastUsedIntervalMs }),
          ...(options.apiKeyRateLimit === undefined ? {} : { rateLimit: options.apiKeyRateLimit }),
        });

  const verifierBase = {
    keys,
    issuer: settings.issuer,
    audience: settings.audience,
    now,
    maxTokenBytes: options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES,
    ...(options.clockToleranceSeconds === undefined
      ? {}
      : { clockToleranceSeconds: options.clockToleranceSeconds }),
  };
  const verifyAccessJwt = createJwtVerifier({
    ...verifierBase,
    typ: ACCESS_TOKEN_TYPE,
    requiredClaims: ['sub', 'jti', 'iat', 'role'],
  });
  const verifyRefreshJwt = createJwtVerifier({
    ...verifierBase,
    typ: REFRESH_TOKEN_TYPE,
    requiredClaims: ['sub', 'jti', 'iat', 'fam'],
  });
  const cache =
    settings.tokenCacheSize === 0
      ? undefined
      : new LRUCache<string, Principal>({ max: settings.tokenCacheSize });

  const registry = options.registry;
  const count = (name: string, help: string, labelNames: string[]) =>
    registry === undefined ? undefined : counter(registry, { name, help, labelNames });
  const verifications = count(
    'fairmind_auth_verifications_total',
    'Credential verifications by kind (access, refresh, api_key) and outcome.',
    ['kind', 'outcome'],
  );
  const cacheLookups = count(
    'fairmind_auth_token_cache_total',
    'Verified-token cache lookups by result (hit, miss).',
    ['result'],
  );
  const logins = count(
    'fairmind_auth_logins_total',
    'Login attempts by outcome (success, failure, locked, unavailable).',
    ['outcome'],
  );

  const outcomeOf = (error: unknown): string => {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'TOKEN_EXPIRED') return 'expired';
    if (code === 'TOKEN_REVOKED' || code === 'REFRESH_TOKEN_REUSED') return 'revoked';
    if (code === 'AUTH_STORE_UNAVAILABLE') return 'unavailable';
    return 'invalid';
  };

  async function audit(
    type: AuditEventType,
    fields: {
      actorId?: string | null | undefined;
      ip?: string | null | undefined;
      details?: Record<string, AuditDetail | undefined>;
    },
  ): Promise<void> {
    if (sinks.length === 0) return;
    const event = auditEvent(type, { ...fields, at: now() });
    await Promise.all(
      sinks.map(async (sink) => {
        try {
          await sink.write(event);
        } catch (error) {
          // The audit trail must not take the request down with it; the log keeps the event.
          logger.error({ audit: event, error: describe(error) }, `${PREFIX} an audit sink failed`);
        }
      }),
    );
  }

  function storeFailed(error: unknown): null {
    if (settings.failOpen) {
      logger.warn(
        { error: describe(error) },
        `${PREFIX} revocation store failed; accepting the token (failOpen)`,
      );
      return null;
    }
    throw storeUnavailable('revocation store', error);
  }

  /**
   * The store's answer, synchronously when the store gives one (the memory store does): the
   * hot path then adds no promise of its own.
   */
  function revocationReason(
    query: RevocationQuery,
  ): RevocationReason | null | Promise<RevocationReason | null> {
    let answer: ReturnType<RevocationStore['check']>;
    try {
      answer = revocation.check(query);
    } catch (error) {
      return storeFailed(error);
    }
    if (!isPromise(answer)) return answer;
    return withDeadline(answer, settings.storeTimeoutMs, 'the revocation store').catch(storeFailed);
  }

  function revokedError(reason: RevocationReason): FairmindError {
    return tokenRevoked(REVOKED_WHAT[reason]);
  }

  async function checkRevoked(query: RevocationQuery): Promise<void> {
    const reason = await revocationReason(query);
    if (reason !== null) throw revokedError(reason);
  }

  function principalOf(payload: JwtClaims): Principal {
    const iat = payload.iat as number;
    const exp = payload.exp as number;
    const fam = payload['fam'];
    return {
      type: 'user',
      id: stringClaim(payload, 'sub'),
      role: stringClaim(payload, 'role'),
      tokenId: stringClaim(payload, 'jti'),
      familyId: typeof fam === 'string' ? fam : undefined,
      issuedAt: iat,
      expiresAt: exp,
    };
  }

  /** Counts a failed access-token verification; returns the error to throw. */
  function countAccessFailure(error: unknown): unknown {
    verifications?.inc({ kind: 'access', outcome: outcomeOf(error) });
    return error;
  }

  function accessFailed(error: unknown): never {
    throw countAccessFailure(error);
  }

  /**
   * The revocation check and the count of the outcome, synchronously when the store answers
   * synchronously (the memory store does). What it throws or rejects with is counted.
   */
  function admit(principal: Principal): Principal | Promise<Principal> {
    let reason: ReturnType<typeof revocationReason>;
    try {
      reason = revocationReason({
        jti: principal.tokenId as string,
        sub: principal.id,
        fam: principal.familyId,
        iat: principal.issuedAt as number,
      });
    } catch (error) {
      return accessFailed(error);
    }
    if (isPromise(reason)) {
      return reason.then((answer) => admitted(principal, answer), accessFailed);
    }
    return admitted(principal, reason);
  }

  function admitted(principal: Principal, reason: RevocationReason | null): Principal {
    if (reason !== null) accessFailed(revokedError(reason));
    verifications?.inc(ACCESS_OK);
    return principal;
  }

  /** A token jose accepted: its principal, cached, then the revocation check. */
  function acceptVerified(token: string, verified: VerifiedJwt): Principal | Promise<Principal> {
    let principal: Principal;
    try {
      principal = principalOf(verified.payload);
      if (cache !== undefined && (principal.expiresAt as number) * 1000 > now()) {
        cache.set(token, principal);
      }
    } catch (error) {
      return accessFailed(error);
    }
    return admit(principal);
  }

  // Promise chains rather than an async function: the cold path is one jose call and this,
  // and each async frame shows against it. Every failure is counted exactly once.
  function verifyAccessToken(token: string): Promise<Principal> {
    let principal: Principal | undefined;
    try {
      principal = cache?.get(token);
      // An entry is never used past its token's exp: expiry is checked here, on the same clock
      // as verification, rather than left to the cache's own timers.
      if (principal !== undefined && (principal.expiresAt as number) * 1000 > now()) {
        cacheLookups?.inc(CACHE_HIT);
      } else {
        if (principal !== undefined) cache?.delete(token);
        if (cache !== undefined) cacheLookups?.inc(CACHE_MISS);
        principal = undefined;
      }
    } catch (error) {
      return Promise.reject(countAccessFailure(error));
    }
    if (principal !== undefined) {
      try {
        return Promise.resolve(admit(principal));
      } catch (error) {
        // Counted by admit().
        return Promise.reject(error);
      }
    }
    return verifyAccessJwt(token).then((verified) => acceptVerified(token, verified), accessFailed);
  }

  /** Runs a verification and counts its outcome (the access-token path counts inline). */
  async function counted<T>(kind: 'api_key' | 'refresh', work: () => Promise<T>): Promise<T> {
    try {
      const result = await work();
      verifications?.inc({ kind, outcome: 'ok' });
      return result;
    } catch (error) {
      verifications?.inc({ kind, outcome: outcomeOf(error) });
      throw error;
    }
  }

  function verifyApiKey(key: string): Promise<Principal> {
    return counted('api_key', async () => {
      if (apiKeys === undefined) throw tokenInvalid('API keys are not enabled on this server');
      return apiKeys.verify(key);
    });
  }

  /**
   * The `iat` of new tokens: now, unless the user's "log out everywhere" cutoff falls in this
   * very second; a token stamped with the cutoff's second would count as issued before it, so
   * it is stamped one second later (well within the verifier's tolerance for `iat`).
   */
  async function issuedAt(sub: string): Promise<number> {
    const at = nowSeconds();
    const probe = await revocationReason({ jti: '', sub, iat: at });
    return probe === 'subject' ? at + 1 : at;
  }

  async function signPair(
    user: { id: string; role: string },
    family: { id: string; expiresAt: number },
    refreshJti: string,
    iat: number,
  ): Promise<TokenPair> {
    const common = {
      sub: user.id,
      iat,
      iss: settings.issuer,
      aud: settings.audience,
      fam: family.id,
    };
    const [accessToken, refreshToken] = await Promise.all([
      signJwt(
        { keys, typ: ACCESS_TOKEN_TYPE },
        {
          ...common,
          role: user.role,
          jti: randomUUID(),
          exp: iat + settings.accessTokenTtlSeconds,
        },
      ),
      signJwt(
        { keys, typ: REFRESH_TOKEN_TYPE },
        {
          ...common,
          role: user.role,
          jti: refreshJti,
          exp: Math.min(iat + settings.refreshTokenTtlSeconds, family.expiresAt),
        },
      ),
    ]);
    return {
      accessToken,
      refreshToken,
      tokenType: 'Bearer',
      expiresIn: settings.accessTokenTtlSeconds,
    };
  }

  async function issueTokens(user: { id: string; role: string }): Promise<TokenPair> {
    if (typeof user?.id !== 'string' || user.id === '' || typeof user.role !== 'string') {
      throw validationFailed('issueTokens needs a user with a string id and role');
    }
    if (!rbac.has(user.role)) throw forbidden(`unknown role ${JSON.stringify(user.role)}`);
    const iat = await issuedAt(user.id);
    const family = { id: randomUUID(), expiresAt: iat + settings.familyLifetimeSeconds };
    const refreshJti = randomUUID();
    await families.create({
      id: family.id,
      subject: user.id,
      tokenId: refreshJti,
      expiresAt: family.expiresAt,
      createdAt: iat,
    });
    return signPair(user, family, refreshJti, iat);
  }

  function refresh(refreshToken: string, context: RequestContext = {}): Promise<TokenPair> {
    // A request without a token string is malformed (400), not a bad credential (401): the
    // client must fix the request, not sign in again.
    if (typeof refreshToken !== 'string' || refreshToken === '') {
      return Promise.reject(
        validationFailed(
          'refreshToken must be the non-empty string that login or refresh answered: send { "refreshToken": "<token>" }.',
        ),
      );
    }
    return counted('refresh', async () => {
      const { payload } = await verifyRefreshJwt(refreshToken);
      const sub = stringClaim(payload, 'sub');
      const jti = stringClaim(payload, 'jti');
      const fam = stringClaim(payload, 'fam');
      const iat = payload.iat as number;
      await checkRevoked({ jti, sub, fam, iat });
      const nextJti = randomUUID();
      const at = nowSeconds();
      const outcome = await families.rotate(fam, jti, nextJti, at);
      if (outcome.status === 'reused') {
        // The whole family dies, the access tokens issued from it included.
        await revocation.revokeFamily(fam, sub, outcome.expiresAt);
        await audit('token.reuse', { actorId: sub, ip: context.ip, details: { familyId: fam } });
        throw refreshTokenReused();
      }
      if (outcome.status !== 'rotated') {
        if (outcome.status === 'revoked') throw tokenRevoked('the session of this refresh token');
        if (outcome.status === 'expired') throw tokenExpired('the session of this refresh token');
        throw tokenInvalid('the refresh token belongs to no known session');
      }
      let role = stringClaim(payload, 'role');
      if (users !== undefined) {
        const user = await users.findById(sub);
        if (user === null) {
          await families.revoke(fam);
          throw tokenRevoked("the refresh token's user no longer exists, so the token");
        }
        role = user.role;
      }
      const pair = await signPair(
        { id: sub, role },
        { id: fam, expiresAt: outcome.expiresAt },
        nextJti,
        await issuedAt(sub),
      );
      await audit('token.refresh', { actorId: sub, ip: context.ip, details: { familyId: fam } });
      return pair;
    });
  }

  function requireUsers(): UserStore {
    if (users === undefined) throw invalid('users', 'is required for logins and user management');
    return users;
  }

  function requireApiKeys(): ApiKeyManager {
    if (apiKeys === undefined) throw invalid('apiKeys', 'is required for API keys (with users)');
    return apiKeys;
  }

  const invalidCredentials = () =>
    new FairmindError('INVALID_CREDENTIALS', 401, `${PREFIX} the email or password is wrong`);

  async function login(
    credentials: { email: string; password: string },
    context: RequestContext = {},
  ): Promise<LoginResult> {
    const store = requireUsers();
    const { email, password } = credentials ?? {};
    if (typeof email !== 'string' || typeof password !== 'string' || email.length > 320) {
      throw validationFailed('send { "email": string, "password": string }');
    }
    try {
      return await attemptLogin(store, normaliseEmail(email), password, context);
    } catch (error) {
      // A store that could not be reached is neither a failure nor a lockout: the audit trail
      // says so, and the client gets the 503 with Retry-After.
      if ((error as { code?: unknown }).code === 'AUTH_STORE_UNAVAILABLE') {
        logins?.inc({ outcome: 'unavailable' });
        await audit('login.unavailable', {
          ip: context.ip,
          details: { reason: (error as Error).message },
        });
      }
      throw error;
    }
  }

  async function attemptLogin(
    store: UserStore,
    account: string,
    password: string,
    context: RequestContext,
  ): Promise<LoginResult> {
    try {
      await throttle.check(account, context.ip);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'RATE_LIMITED') {
        logins?.inc({ outcome: 'locked' });
        await audit('login.locked', { ip: context.ip, details: { reason: 'locked out' } });
      }
      throw error;
    }
    const user = await store.findByEmail(account);
    const ok =
      user === null
        ? await passwords.verifyDummy(password)
        : await passwords.verify(password, user.passwordHash);
    if (!ok || user === null) {
      const { lockedForMs } = await throttle.fail(account, context.ip);
      logins?.inc({ outcome: 'failure' });
      await audit('login.failure', {
        actorId: user?.id ?? null,
        ip: context.ip,
        details: { reason: user === null ? 'unknown email' : 'wrong password' },
      });
      if (lockedForMs > 0) {
        await audit('login.locked', {
          actorId: user?.id ?? null,
          ip: context.ip,
          details: { lockedForSeconds: Math.ceil(lockedForMs / 1000) },
        });
      }
      throw invalidCredentials();
    }
    await throttle.succeed(account);
    if (passwords.needsRehash(user.passwordHash)) {
      // The old cost was accepted once more; the stored hash moves to the current cost.
      try {
        await store.update(user.id, {
          passwordHash: await passwords.hash(password),
          updatedAt: now(),
        });
      } catch (error) {
        logger.warn(
          { userId: user.id, error: describe(error) },
          `${PREFIX} could not rehash a password`,
        );
      }
    }
    const pair = await issueTokens(user);
    logins?.inc({ outcome: 'success' });
    await audit('login.success', { actorId: user.id, ip: context.ip });
    return { ...pair, user: { id: user.id, email: user.email, role: user.role } };
  }

  async function logout(
    principal: Principal,
    options: RequestContext & { refreshToken?: string } = {},
  ) {
    const at = nowSeconds();
    const familyEnd = at + settings.familyLifetimeSeconds;
    const familiesToEnd = new Set<string>();
    if (principal.type === 'user' && principal.tokenId !== undefined) {
      await revocation.revokeToken(
        principal.tokenId,
        principal.id,
        principal.expiresAt ?? at + settings.accessTokenTtlSeconds,
      );
      if (principal.familyId !== undefined) familiesToEnd.add(principal.familyId);
    }
    if (options.refreshToken !== undefined) {
      // A refresh token that does not verify, or is someone else's, is ignored: logout still
      // succeeds for what the caller does own.
      try {
        const { payload } = await verifyRefreshJwt(options.refreshToken);
        if (payload.sub === principal.id && typeof payload['fam'] === 'string')
          familiesToEnd.add(payload['fam']);
      } catch (error) {
        logger.debug(
          { error: describe(error) },
          `${PREFIX} logout ignored a refresh token that did not verify`,
        );
      }
    }
    for (const fam of familiesToEnd) {
      await families.revoke(fam);
      await revocation.revokeFamily(fam, principal.id, familyEnd);
    }
    await audit('logout', {
      actorId: principal.id,
      ip: options.ip,
      details: { sessions: familiesToEnd.size },
    });
  }

  async function logoutEverywhere(
    userId: string,
    context: RequestContext & { actorId?: string } = {},
  ) {
    const at = nowSeconds();
    const longest = Math.max(settings.familyLifetimeSeconds, settings.accessTokenTtlSeconds);
    await revocation.revokeSubject(userId, at, at + longest + 60);
    await audit('logout.everywhere', {
      actorId: context.actorId ?? userId,
      ip: context.ip,
      details: { userId },
    });
  }

  async function createUser(
    input: { email: string; password: string; role: string },
    context: RequestContext & { actorId?: string } = {},
  ): Promise<PublicUser> {
    const store = requireUsers();
    const { email, password, role } = input ?? {};
    if (typeof email !== 'string' || !emailSchema.safeParse(email.trim()).success) {
      throw validationFailed('email must be an email address such as ada@example.com');
    }
    if (typeof role !== 'string' || !rbac.has(role)) {
      throw validationFailed(`role must be one of ${rbac.roles.join(', ')}`);
    }
    checkNewPassword(password);
    const at = now();
    const user: UserRecord = {
      id: randomUUID(),
      email: normaliseEmail(email),
      passwordHash: await passwords.hash(password),
      role,
      createdAt: at,
      updatedAt: at,
    };
    await store.create(user);
    await audit('user.created', {
      actorId: context.actorId ?? null,
      ip: context.ip,
      details: { userId: user.id, role },
    });
    return publicUser(user);
  }

  async function updateUser(
    id: string,
    changes: { role?: string; password?: string },
    context: RequestContext & { actorId?: string } = {},
  ): Promise<PublicUser> {
    const store = requireUsers();
    const current = await store.findById(id);
    if (current === null)
      throw new FairmindError('NOT_FOUND', 404, `${PREFIX} no such user: check the id`);
    const fields: string[] = [];
    const update: { role?: string; passwordHash?: string; updatedAt: number } = {
      updatedAt: now(),
    };
    if (changes.role !== undefined) {
      if (!rbac.has(changes.role))
        throw validationFailed(`role must be one of ${rbac.roles.join(', ')}`);
      update.role = changes.role;
      fields.push('role');
    }
    if (changes.password !== undefined) {
      update.passwordHash = await passwords.hash(changes.password);
      fields.push('password');
    }
    if (fields.length === 0) throw validationFailed('give a role or a password to change');
    await store.update(id, update);
    // Tokens carry the role, so a role change must not leave old tokens with the old one.
    await logoutEverywhere(id, context);
    await audit('user.updated', {
      actorId: context.actorId ?? null,
      ip: context.ip,
      details: { userId: id, fields },
    });
    return publicUser({ ...current, ...update });
  }

  async function deleteUser(id: string, context: RequestContext & { actorId?: string } = {}) {
    const store = requireUsers();
    if (!(await store.delete(id)))
      throw new FairmindError('NOT_FOUND', 404, `${PREFIX} no such user: check the id`);
    await logoutEverywhere(id, context);
    await audit('user.deleted', {
      actorId: context.actorId ?? null,
      ip: context.ip,
      details: { userId: id },
    });
  }

  const check = (principal: Principal, permission: string): Decision =>
    rbac.checkPrincipal(principal, permission);

  async function createApiKey(
    principal: Principal,
    input: {
      name: string;
      scopes?: readonly string[] | undefined;
      expiresInDays?: number | undefined;
    },
    context: RequestContext = {},
  ) {
    const manager = requireApiKeys();
    const allowed = check(principal, 'apikeys:create');
    if (!allowed.allowed)
      throw forbidden(`you need the permission "apikeys:create": ${allowed.reason}`);
    // A key made with a key may not reach past that key's own scopes.
    for (const scope of input.scopes ?? principal.scopes ?? []) {
      const decision = check(principal, scope);
      if (!decision.allowed)
        throw forbidden(
          `the scope ${JSON.stringify(scope)} is outside your permissions: ${decision.reason}`,
        );
    }
    const days = input.expiresInDays;
    if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 3650)) {
      throw validationFailed('expiresInDays must be a whole number from 1 to 3650');
    }
    const { key, record } = await manager.create({
      ownerId: principal.id,
      ownerRole: principal.role,
      name: input.name,
      scopes: input.scopes ?? principal.scopes ?? null,
      expiresAt: days === undefined ? null : now() + days * 86_400_000,
    });
    await audit('apikey.created', {
      actorId: principal.id,
      ip: context.ip,
      details: {
        apiKeyId: record.id,
        name: record.name,
        scopes: record.scopes === null ? null : [...record.scopes],
      },
    });
    return { ...view(record), key };
  }

  const deps: MiddlewareDeps = {
    verifyAccessToken,
    verifyApiKey,
    check,
    hasRole: (role) => rbac.has(role),
    denied: (principal: Principal, exchange: Exchange, details: Record<string, string>) =>
      audit('permission.denied', { actorId: principal.id, ip: exchange.clientAddress, details }),
  };

  return {
    rbac,
    passwords,
    issueTokens,
    verifyAccessToken,
    verifyApiKey,
    refresh,
    login,
    logout,
    logoutEverywhere,
    createUser,
    updateUser,
    deleteUser,
    createApiKey,
    async listApiKeys(principal) {
      return (await requireApiKeys().list(principal.id)).map(view);
    },
    async revokeApiKey(principal, id, context = {}) {
      await requireApiKeys().revoke(id, principal.id);
      await audit('apikey.revoked', {
        actorId: principal.id,
        ip: context.ip,
        details: { apiKeyId: id },
      });
    },
    can: (principal, permission) => check(principal, permission).allowed,
    check,
    authenticate: (authenticateOptions) => createAuthenticate(deps, authenticateOptions),
    requirePermission: (...permissions) => createRequirePermission(deps, permissions),
    requireRole: (...roles) => createRequireRole(deps, roles),
    async close() {
      if (ownPasswords) await passwords.close();
    },
  };
}

/**
 * The key and lifetime options of {@link createAuth} from `loadConfig()` of `@fairmind/core`:
 * `JWT_SECRET` as the HMAC secret (or, for RS256/ES256/EdDSA, the PEM private key),
 * `JWT_ALGORITHM`, `JWT_EXPIRE_MINUTES` and `NODE_ENV=production`.
 *
 * @example
 * ```ts
 * import { loadConfig } from '@fairmind/core';
 * const config = loadConfig();
 * const auth = createAuth({ ...authOptionsFromConfig(config), users, audit });
 * ```
 */
export function authOptionsFromConfig(
  config: Pick<FairmindConfig, 'env' | 'jwt'>,
): Pick<
  AuthOptions,
  'secret' | 'privateKey' | 'algorithm' | 'accessTokenTtlSeconds' | 'production'
> {
  const { algorithm, secret, expireMinutes } = config.jwt;
  return {
    algorithm,
    ...(algorithm.startsWith('HS') ? { secret } : { privateKey: secret }),
    accessTokenTtlSeconds: expireMinutes * 60,
    production: config.env === 'production',
  };
}
