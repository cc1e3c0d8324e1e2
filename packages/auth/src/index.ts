export {
  type ApiKeyRecord,
  type ApiKeyStore,
  type CreateApiKeyInput,
  createMemoryApiKeyStore,
} from './apikeys/index.js';
export {
  AUDIT_EVENT_TYPES,
  type AuditDetail,
  type AuditEvent,
  type AuditEventType,
  type AuditSink,
  createLoggerAuditSink,
  createMemoryAuditSink,
} from './audit/index.js';
export {
  type ApiKeyView,
  type Auth,
  type AuthOptions,
  authOptionsFromConfig,
  createAuth,
  type LoginResult,
  type PublicUser,
  type RequestContext,
  type TokenPair,
} from './auth/index.js';
export type { JwtClaims } from './jwt/index.js';
export {
  createKeyRing,
  JWT_ALGORITHMS,
  type Jwk,
  type JwtAlgorithm,
  type KeyInput,
  type KeyRing,
  type KeyRingOptions,
  type VerificationKey,
} from './keys/index.js';
export {
  createFallbackAttemptStore,
  type FallbackAttemptStoreOptions,
} from './lockout/fallback.js';
export {
  type AttemptRecord,
  type AttemptStore,
  createLoginThrottle,
  createMemoryAttemptStore,
  type LockoutPolicy,
  type LoginThrottle,
  type LoginThrottleOptions,
  type MemoryAttemptStoreOptions,
} from './lockout/index.js';
export type { AuthenticateOptions, RequireAuthOptions } from './middleware/index.js';
export {
  createPasswordHasher,
  MAX_PASSWORD_BYTES,
  MIN_PASSWORD_BYTES,
  type PasswordHasher,
  type PasswordHasherOptions,
} from './passwords/index.js';
export {
  createRbac,
  DEFAULT_ROLES,
  PERMISSIONS,
  type Permission,
  type PermissionDecision,
  type Principal,
  type Rbac,
  type RbacOptions,
  type RoleDefinition,
  type RoleTable,
} from './rbac/index.js';
export {
  createMemoryRefreshFamilyStore,
  type MemoryRefreshFamilyStoreOptions,
  type RefreshFamily,
  type RefreshFamilyStore,
  type RefreshRotation,
  type RotateOutcome,
  withinReuseInterval,
} from './refresh/index.js';
export {
  createMemoryRevocationStore,
  type DurableRevocationStore,
  type MemoryRevocationStoreOptions,
  type RevocationQuery,
  type RevocationReason,
  type RevocationStore,
} from './revocation/index.js';
export {
  createLayeredRevocationStore,
  type LayeredRevocationStoreOptions,
} from './revocation/layered.js';
export {
  createMemoryUserStore,
  type UserChanges,
  type UserRecord,
  type UserStore,
} from './users/index.js';
