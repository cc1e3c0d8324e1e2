import { type Logger, silentLogger } from '@fairmind/core';
import { type ApiKeyManager, createApiKeyManager } from '../apikeys/index.js';
import { invalid } from '../errors/index.js';
import {
  ACCESS_TOKEN_TYPE,
  createJwtVerifier,
  DEFAULT_MAX_TOKEN_BYTES,
  type JwtVerifier,
  REFRESH_TOKEN_TYPE,
} from '../jwt/index.js';
import type { KeyRing } from '../keys/index.js';
import {
  createLoginThrottle,
  createMemoryAttemptStore,
  type LoginThrottle,
} from '../lockout/index.js';
import type { PasswordHasher } from '../passwords/index.js';
import type { Rbac } from '../rbac/index.js';
import { createMemoryRefreshFamilyStore, type RefreshFamilyStore } from '../refresh/index.js';
import { createMemoryRevocationStore, type RevocationStore } from '../revocation/index.js';
import { guardStore } from '../store-guard/index.js';
import type { UserStore } from '../users/index.js';
import { type Audit, createAudit } from './audit.js';
import type { AuthOptions } from './index.js';
import { type AuthMetrics, createAuthMetrics } from './metrics.js';
import {
  type AuthSettings,
  auditSinksOf,
  keyRingOf,
  parseSettings,
  passwordsOf,
  rbacOf,
} from './options.js';

/** What every part of createAuth shares: built once, from the options, by {@link createContext}. */
export interface AuthContext {
  readonly settings: AuthSettings;
  readonly now: () => number;
  readonly nowSeconds: () => number;
  readonly logger: Logger;
  readonly keys: KeyRing;
  readonly rbac: Rbac;
  readonly passwords: PasswordHasher;
  /** Whether `passwords` was made here, and so is closed with the auth. */
  readonly ownPasswords: boolean;
  readonly revocation: RevocationStore;
  readonly families: RefreshFamilyStore;
  readonly users: UserStore | undefined;
  readonly throttle: LoginThrottle;
  readonly apiKeys: ApiKeyManager | undefined;
  readonly verifyAccessJwt: JwtVerifier;
  readonly verifyRefreshJwt: JwtVerifier;
  readonly metrics: AuthMetrics;
  readonly audit: Audit;
}

/**
 * The context of `options`. The order is that of the checks a caller sees: the first bad
 * option throws before anything later is made (or registered in the metrics registry).
 */
export function createContext(options: AuthOptions): AuthContext {
  const settings = parseSettings(options);
  const production = options.production ?? process.env['NODE_ENV'] === 'production';
  const now = options.now ?? Date.now;
  const logger = (options.logger ?? silentLogger).child({ component: '@fairmind/auth' });
  const keys = keyRingOf(options, production);
  const rbac = rbacOf(options.rbac);
  const { passwords, own: ownPasswords } = passwordsOf(options, production, logger);
  const users = options.users;
  const stores = guardedStores({ options, users, settings, now });
  const apiKeys = apiKeyManagerOf(options, { users, rbac, now, logger });
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
  return {
    settings,
    now,
    nowSeconds: () => Math.floor(now() / 1000),
    logger,
    keys,
    rbac,
    passwords,
    ownPasswords,
    ...stores,
    users,
    apiKeys,
    verifyAccessJwt,
    verifyRefreshJwt,
    metrics: createAuthMetrics(options.registry),
    audit: createAudit({ sinks: auditSinksOf(options.audit), now, logger }),
  };
}

/**
 * The revocation, refresh-token and login-attempt stores, each bounded by storeTimeoutMs.
 * Writes to these stores (logout, refresh, login) are bounded like the verification path's
 * check: a store whose server is away answers 503 within storeTimeoutMs, never a request
 * held until it returns. The check keeps its own synchronous fast path (revocationReason).
 */
function guardedStores({
  options,
  users,
  settings,
  now,
}: {
  options: AuthOptions;
  users: UserStore | undefined;
  settings: AuthSettings;
  now: () => number;
}): Pick<AuthContext, 'revocation' | 'families' | 'throttle'> {
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
  if (options.apiKeys !== undefined && users === undefined) {
    throw invalid('apiKeys', "needs users too: a key acts with its owner's current role");
  }
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
  return { revocation, families, throttle };
}

function apiKeyManagerOf(
  options: AuthOptions,
  shared: { users: UserStore | undefined; rbac: Rbac; now: () => number; logger: Logger },
): ApiKeyManager | undefined {
  const { users } = shared;
  if (options.apiKeys === undefined || users === undefined) return undefined;
  return createApiKeyManager({
    store: options.apiKeys,
    rbac: shared.rbac,
    // A disabled owner's keys stop working, as a deleted owner's do.
    roleOf: async (id) => {
      const owner = await users.findById(id);
      return owner && (owner.disabledAt ?? null) === null ? owner.role : null;
    },
    now: shared.now,
    logger: shared.logger,
    ...(options.apiKeyPepper === undefined ? {} : { pepper: options.apiKeyPepper }),
    ...(options.apiKeyPrefix === undefined ? {} : { prefix: options.apiKeyPrefix }),
    ...(options.apiKeyLastUsedIntervalMs === undefined
      ? {}
      : { lastUsedIntervalMs: options.apiKeyLastUsedIntervalMs }),
    ...(options.apiKeyRateLimit === undefined ? {} : { rateLimit: options.apiKeyRateLimit }),
  });
}
