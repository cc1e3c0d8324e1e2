/**
 * Why a token no longer counts: its id, its refresh family or its user's sessions were
 * revoked; or `'reset'`, the store lost its list (Redis restarted empty) after the token was
 * issued, so whether it was revoked is unknown and it is refused until the user signs in again.
 */
export type RevocationReason = 'token' | 'family' | 'subject' | 'reset';

/** Whether a store's answer is a promise, rather than given at once (a memory store's). */
export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** What a revocation check needs to know about a verified token. */
export interface RevocationQuery {
  /** The token's `jti`: revocation is by id, never by the token's text. */
  readonly jti: string;
  /** The token's `sub`. */
  readonly sub: string;
  /** The refresh family the token belongs to (`fam` claim), if any. */
  readonly fam?: string | undefined;
  /** The token's `iat`, in seconds, compared with the subject's cutoff. */
  readonly iat: number;
}

/**
 * Where revoked token ids, revoked refresh families and per-user cutoffs live. Every entry is
 * kept only as long as a token it concerns could still be valid (`expiresAt`, epoch seconds),
 * so the store never grows past the tokens in circulation.
 */
export interface RevocationStore {
  /** Revokes one token id until `expiresAt` (its own `exp`). */
  revokeToken(jti: string, sub: string, expiresAt: number): Promise<void>;
  /** Revokes every token carrying `fam` (a refresh family and its access tokens). */
  revokeFamily(fam: string, sub: string, expiresAt: number): Promise<void>;
  /**
   * "Log out everywhere": tokens of `sub` issued at or before `notBefore` (epoch seconds) are
   * revoked. Kept until `expiresAt`, when no such token can be valid any more; a later cutoff
   * replaces an earlier one, never the reverse.
   */
  revokeSubject(sub: string, notBefore: number, expiresAt: number): Promise<void>;
  /** The reason the token is revoked, or `null`. May answer synchronously. */
  check(query: RevocationQuery): RevocationReason | null | Promise<RevocationReason | null>;
}

/**
 * A revocation store that keeps what it is told for good (SQL), and also remembers when a
 * revocation reached it alone because the fast store (Redis) could not take it. The layered
 * store checks it for tokens issued before that moment.
 */
export interface DurableRevocationStore extends RevocationStore {
  /** Records that a revocation written at `at` (epoch ms) is missing from the fast store. */
  markUnreplicated(at: number): Promise<void>;
  /** The latest time given to {@link markUnreplicated}, or 0. */
  unreplicatedBefore(): Promise<number>;
}

/** Options of {@link createMemoryRevocationStore}. */
export interface MemoryRevocationStoreOptions {
  /**
   * The clock in milliseconds (tests pin it).
   * @default Date.now
   */
  now?: (() => number) | undefined;
}

/**
 * Revocations in this process's memory: for development and single-instance deployments.
 * Use the Redis store when several instances must agree. Expired entries are dropped when
 * read and swept at most once a minute on write, so memory follows the tokens in circulation.
 *
 * @example
 * ```ts
 * const revocations = createMemoryRevocationStore();
 * await revocations.revokeToken(jti, userId, exp);
 * ```
 */
export function createMemoryRevocationStore(
  options: MemoryRevocationStoreOptions = {},
): RevocationStore {
  const now = options.now ?? Date.now;
  // id -> expiry in ms, one map per kind: a check looks the token's own ids up as they are,
  // with no key string built per verification, and skips a kind nobody has revoked.
  const tokens = new Map<string, number>();
  const families = new Map<string, number>();
  const subjects = new Map<string, number>();
  // sub -> cutoff (epoch seconds), beside its entry in `subjects`.
  const cutoffs = new Map<string, number>();
  let lastSweep = now();

  function sweepMap(expiries: Map<string, number>, at: number): void {
    for (const [key, expiry] of expiries) {
      if (expiry <= at) {
        expiries.delete(key);
        if (expiries === subjects) cutoffs.delete(key);
      }
    }
  }

  function sweep(at: number): void {
    if (at - lastSweep < 60_000) return;
    lastSweep = at;
    sweepMap(tokens, at);
    sweepMap(families, at);
    sweepMap(subjects, at);
  }

  function put(expiries: Map<string, number>, key: string, expiresAt: number): void {
    const at = now();
    sweep(at);
    const expiry = expiresAt * 1000;
    if (expiry <= at) return;
    expiries.set(key, Math.max(expiry, expiries.get(key) ?? 0));
  }

  function live(expiries: Map<string, number>, key: string, at: number): boolean {
    if (expiries.size === 0) return false;
    const expiry = expiries.get(key);
    if (expiry === undefined) return false;
    if (expiry > at) return true;
    expiries.delete(key);
    if (expiries === subjects) cutoffs.delete(key);
    return false;
  }

  return {
    async revokeToken(jti, _sub, expiresAt) {
      put(tokens, jti, expiresAt);
    },
    async revokeFamily(fam, _sub, expiresAt) {
      put(families, fam, expiresAt);
    },
    async revokeSubject(sub, notBefore, expiresAt) {
      put(subjects, sub, expiresAt);
      if (subjects.has(sub)) cutoffs.set(sub, Math.max(notBefore, cutoffs.get(sub) ?? -Infinity));
    },
    check(query) {
      const at = now();
      if (live(tokens, query.jti, at)) return 'token';
      if (query.fam !== undefined && live(families, query.fam, at)) return 'family';
      if (live(subjects, query.sub, at) && query.iat <= (cutoffs.get(query.sub) ?? -Infinity)) {
        return 'subject';
      }
      return null;
    },
  };
}
