import { FairmindError, type Logger } from '@fairmind/core';
import { PREFIX } from '../errors/index.js';
import type { Principal, Rbac } from '../rbac/index.js';
import { type ApiKeyContext, createApiKeyContext } from './context.js';
import { issueApiKey } from './issue.js';
import { verifyApiKey } from './verify.js';

export { apiKeyChecksum, parseApiKey } from './format.js';

/** An API key as the stores keep it: never the secret, only its hash. */
export interface ApiKeyRecord {
  readonly id: string;
  readonly ownerId: string;
  readonly name: string;
  /** The visible part, `fm_<prefix>_<id>`, for lists and logs. */
  readonly prefix: string;
  /** Hex SHA-256 of the secret, or HMAC-SHA-256 with the server's pepper. */
  readonly secretHash: string;
  /** The key's scopes, or `null` for everything its owner's role grants. */
  readonly scopes: readonly string[] | null;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  /** Epoch milliseconds, or `null` for no expiry. */
  readonly expiresAt: number | null;
  /** Epoch milliseconds, or `null` while valid. */
  readonly revokedAt: number | null;
  /** Epoch milliseconds, written at most once per `lastUsedIntervalMs`. */
  readonly lastUsedAt: number | null;
}

/** Where API keys live. */
export interface ApiKeyStore {
  insert(record: ApiKeyRecord): Promise<void>;
  findById(id: string): Promise<ApiKeyRecord | null>;
  /** The owner's keys, newest first. */
  listByOwner(ownerId: string): Promise<ApiKeyRecord[]>;
  /** Marks a key revoked; `false` when there is none (or it already was). */
  revoke(id: string, at: number): Promise<boolean>;
  /** Records a use. */
  touch(id: string, at: number): Promise<void>;
}

/** Options of {@link createApiKeyManager}. */
export interface ApiKeyManagerOptions {
  store: ApiKeyStore;
  rbac: Rbac;
  /** The current role of a key's owner, or `null` when the owner no longer exists. */
  roleOf(ownerId: string): Promise<string | null> | string | null;
  /**
   * A server-side secret mixed into the stored hash (HMAC-SHA-256), so a leaked table alone
   * cannot even confirm a guessed key. Changing it invalidates every key.
   * @default undefined (plain SHA-256: the secret has 190 random bits)
   */
  pepper?: string | Uint8Array | undefined;
  /**
   * The visible label after `fm_`, such as `live` or `test`.
   * @default 'live'
   */
  prefix?: string | undefined;
  /**
   * `lastUsedAt` is written at most this often per key, not on every request.
   * @default 60_000
   */
  lastUsedIntervalMs?: number | undefined;
  /**
   * Called after a key verifies, before the request goes on: throw a `FairmindError` (429
   * with `Retry-After`, say) to refuse it. The per-key rate-limit hook.
   * @default undefined
   */
  rateLimit?: ((key: ApiKeyRecord) => void | Promise<void>) | undefined;
  /** @default Date.now */
  now?: (() => number) | undefined;
  /** @default silentLogger */
  logger?: Logger | undefined;
}

/** What {@link ApiKeyManager.create} takes. */
export interface CreateApiKeyInput {
  readonly ownerId: string;
  /** The owner's role now: scopes must be within it. */
  readonly ownerRole: string;
  readonly name: string;
  /** @default null: everything the owner's role grants, now and later */
  readonly scopes?: readonly string[] | null | undefined;
  /** Epoch milliseconds. @default null: no expiry */
  readonly expiresAt?: number | null | undefined;
}

/** API keys: issue, verify, list, revoke. */
export interface ApiKeyManager {
  /** A new key: `key` is shown once, only its hash is stored. */
  create(input: CreateApiKeyInput): Promise<{ key: string; record: ApiKeyRecord }>;
  /** The principal of a key, or a 401 `TOKEN_INVALID` / `TOKEN_EXPIRED` / `TOKEN_REVOKED`. */
  verify(key: string): Promise<Principal & { readonly apiKeyId: string }>;
  /** Revokes a key; with `ownerId`, only one of theirs (else 404). */
  revoke(id: string, ownerId?: string): Promise<ApiKeyRecord>;
  /** The owner's keys, newest first (records hold no secret). */
  list(ownerId: string): Promise<ApiKeyRecord[]>;
}

/**
 * API keys shaped `fm_<prefix>_<id>_<secret><checksum>`: a visible label, a 16-character id
 * for the lookup, a 32-character secret (190 random bits) and a CRC-32 checksum that turns
 * typos away before any lookup. Only a hash of the secret is stored and it is compared in
 * constant time; scopes stay within the owner's role, checked both at creation and on use.
 *
 * @example
 * ```ts
 * const keys = createApiKeyManager({ store, rbac, roleOf: async (id) => (await users.findById(id))?.role ?? null });
 * const { key } = await keys.create({ ownerId: 'u1', ownerRole: 'analyst', name: 'CI', scopes: ['models:read'] });
 * const principal = await keys.verify(key); // { type: 'api_key', id: 'u1', role: 'analyst', scopes: ['models:read'], ... }
 * ```
 */
export function createApiKeyManager(options: ApiKeyManagerOptions): ApiKeyManager {
  const context = createApiKeyContext(options);
  return {
    create: (input) => issueApiKey(context, input),
    verify: (key) => verifyApiKey(context, key),
    revoke: (id, ownerId) => revokeApiKey(context, id, ownerId),
    list: (ownerId) => context.store.listByOwner(ownerId),
  };
}

/** Revokes a key; with `ownerId`, only one of theirs, and anyone else's is a 404 as if absent. */
async function revokeApiKey(
  context: ApiKeyContext,
  id: string,
  ownerId: string | undefined,
): Promise<ApiKeyRecord> {
  const record = await context.store.findById(id);
  if (record === null || (ownerId !== undefined && record.ownerId !== ownerId)) {
    throw new FairmindError('NOT_FOUND', 404, `${PREFIX} no such API key: check the id`);
  }
  const at = context.now();
  await context.store.revoke(id, at);
  context.lastUse.forget(id);
  return { ...record, revokedAt: record.revokedAt ?? at };
}

/**
 * API keys in this process's memory, for development and tests.
 *
 * @example
 * ```ts
 * const auth = createAuth({ secret, users, apiKeys: createMemoryApiKeyStore() });
 * ```
 */
export function createMemoryApiKeyStore(): ApiKeyStore {
  const records = new Map<string, ApiKeyRecord>();
  return {
    async insert(record) {
      if (records.has(record.id)) {
        throw new FairmindError('CONFLICT', 409, `${PREFIX} an API key with this id exists`);
      }
      records.set(record.id, record);
    },
    async findById(id) {
      return records.get(id) ?? null;
    },
    async listByOwner(ownerId) {
      return [...records.values()]
        .filter((record) => record.ownerId === ownerId)
        .sort((a, b) => b.createdAt - a.createdAt);
    },
    async revoke(id, at) {
      const record = records.get(id);
      if (record === undefined || record.revokedAt !== null) return false;
      records.set(id, { ...record, revokedAt: at });
      return true;
    },
    async touch(id, at) {
      const record = records.get(id);
      if (record !== undefined) records.set(id, { ...record, lastUsedAt: at });
    },
  };
}
