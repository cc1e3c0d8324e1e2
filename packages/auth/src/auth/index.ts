import type { AuthGuard, Exchange, FairmindConfig, Logger, Middleware } from '@fairmind/core';
import type { Registry } from 'prom-client';
import type { ApiKeyRecord, ApiKeyStore } from '../apikeys/index.js';
import type { AuditSink } from '../audit/index.js';
import type { Jwk, JwtAlgorithm, KeyInput } from '../keys/index.js';
import type { AttemptStore, LockoutPolicy } from '../lockout/index.js';
import {
  type AuthenticateOptions,
  createAuthenticate,
  createRequireAuth,
  createRequirePermission,
  createRequireRole,
  type MiddlewareDeps,
  type RequireAuthOptions,
} from '../middleware/index.js';
import type { PasswordHasher, PasswordHasherOptions } from '../passwords/index.js';
import type { PermissionDecision, Principal, Rbac, RbacOptions } from '../rbac/index.js';
import type { RefreshFamilyStore } from '../refresh/index.js';
import type { RevocationStore } from '../revocation/index.js';
import type { UserStore } from '../users/index.js';
import { createApiKeyAdmin } from './api-keys.js';
import { createContext } from './context.js';
import { createLogin } from './login.js';
import { createLogout } from './logout.js';
import { createCounted } from './metrics.js';
import { createRefresh } from './refresh.js';
import { createRevocationCheck } from './revocation-check.js';
import { createSigner } from './sign.js';
import { createUserAdmin } from './users.js';
import { createAccessTokenVerifier, createApiKeyVerifier } from './verify.js';

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
  /**
   * Seconds during which a refresh token just spent may be presented again and get the same
   * new pair, for several tabs (or retries) refreshing one session at once; outside it, a
   * spent token is reuse and revokes its family. `0` keeps strict one-use rotation, which is
   * what the FairMind HTTP contract specifies; a browser app with cookie sessions wants a few
   * seconds. At most 300.
   * @default 0
   */
  refreshReuseIntervalSeconds?: number | undefined;
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
   * Production rules: HMAC secrets of 32+ characters (bytes when given as bytes), bcrypt cost 10+.
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
  /**
   * Changes a user's role or password, or disables (`disabled: true`) or enables the account;
   * any change logs the user out everywhere. A disabled account cannot sign in and its API
   * keys stop working.
   */
  updateUser(
    id: string,
    changes: {
      role?: string | undefined;
      password?: string | undefined;
      disabled?: boolean | undefined;
    },
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
  check(principal: Principal, permission: string): PermissionDecision;
  /** Middleware: `Authorization: Bearer` or `X-API-Key` to `exchange.state.auth`, else 401. */
  authenticate(options?: AuthenticateOptions): Middleware;
  /**
   * A guard: 401 without a valid credential (authenticating the request itself when no
   * `authenticate()` ran before it); `apiKeys: false` refuses API keys with 403.
   */
  requireAuth(options?: RequireAuthOptions): AuthGuard;
  /** A guard: 401 without a credential, 403 unless the principal has every permission. */
  requirePermission(...permissions: string[]): AuthGuard;
  /** A guard: 401 without a credential, 403 unless the principal has one of the roles. */
  requireRole(...roles: string[]): AuthGuard;
  /** Stops the password workers (when created here). */
  close(): Promise<void>;
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
  // Each part gets the context and the functions of the parts it builds on; the order of the
  // parts is the order of their dependencies.
  const context = createContext(options);
  const { rbac, passwords, audit } = context;
  const counted = createCounted(context.metrics);
  const revocationCheck = createRevocationCheck(context);
  const { verifyAccessToken, accessTokenPrincipal } = createAccessTokenVerifier({
    ...context,
    ...revocationCheck,
  });
  const verifyApiKey = createApiKeyVerifier({ ...context, counted });
  const signer = createSigner({ ...context, ...revocationCheck });
  const { issueTokens } = signer;
  const { refresh } = createRefresh({ ...context, ...revocationCheck, ...signer, counted });
  const { login } = createLogin({ ...context, issueTokens });
  const { logout, logoutEverywhere } = createLogout(context);
  const { createUser, updateUser, deleteUser } = createUserAdmin({ ...context, logoutEverywhere });
  const check = (principal: Principal, permission: string): PermissionDecision =>
    rbac.checkPrincipal(principal, permission);
  const { createApiKey, listApiKeys, revokeApiKey } = createApiKeyAdmin({ ...context, check });

  const deps: MiddlewareDeps = {
    accessTokenPrincipal,
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
    listApiKeys,
    revokeApiKey,
    can: (principal, permission) => check(principal, permission).allowed,
    check,
    authenticate: (authenticateOptions) => createAuthenticate(deps, authenticateOptions),
    requireAuth: (requireOptions) => createRequireAuth(deps, requireOptions),
    requirePermission: (...permissions) => createRequirePermission(deps, permissions),
    requireRole: (...roles) => createRequireRole(deps, roles),
    async close() {
      if (context.ownPasswords) await passwords.close();
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
