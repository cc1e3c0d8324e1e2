import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  checkOption,
  durationMsRule,
  FairmindError,
  functionRule,
  type Logger,
  silentLogger,
} from '@fairmind/core';
import { LRUCache } from 'lru-cache';
import {
  describe,
  forbidden,
  invalid,
  PREFIX,
  tokenExpired,
  tokenInvalid,
  tokenRevoked,
  validationFailed,
} from '../errors/index.js';
import { OPTIONS } from '../errors/options.js';
import { isPermission, type Principal, type Rbac } from '../rbac/index.js';

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

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ID_LENGTH = 16;
const SECRET_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const MAX_KEY_LENGTH = 128;
const KEY_PATTERN = new RegExp(
  `^fm_([a-z0-9]{1,16})_([0-9A-Za-z]{${ID_LENGTH}})_([0-9A-Za-z]{${SECRET_LENGTH}})([0-9A-Za-z]{${CHECKSUM_LENGTH}})$`,
);

/** `length` base62 characters from the CSPRNG, without modulo bias. */
function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 * 62: bytes above it would favour the first characters.
      if (byte < 248) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

// CRC-32 (IEEE), written out because zlib.crc32 arrived only in Node 20.15 and 22.2.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let index = 0; index < text.length; index++) {
    crc = (CRC_TABLE[(crc ^ text.charCodeAt(index)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** The checksum of a key body: CRC-32 in six base62 characters (62^6 > 2^32). */
export function apiKeyChecksum(body: string): string {
  let value = crc32(body);
  let out = '';
  for (let index = 0; index < CHECKSUM_LENGTH; index++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** The parts of a well-formed key whose checksum matches, or `undefined`. */
export function parseApiKey(
  key: unknown,
): { prefix: string; id: string; secret: string } | undefined {
  if (typeof key !== 'string' || key.length > MAX_KEY_LENGTH) return undefined;
  const match = KEY_PATTERN.exec(key);
  if (!match) return undefined;
  const [, label = '', id = '', secret = '', checksum = ''] = match;
  // A typo is caught here, without a store lookup.
  if (apiKeyChecksum(key.slice(0, -CHECKSUM_LENGTH)) !== checksum) return undefined;
  return { prefix: `fm_${label}_${id}`, id, secret };
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
  const { store, rbac } = options;
  if (typeof store?.findById !== 'function') throw invalid('store', 'must be an ApiKeyStore');
  if (typeof rbac?.check !== 'function') throw invalid('rbac', 'must come from createRbac()');
  checkOption(OPTIONS, 'roleOf', options.roleOf, functionRule);
  const label = options.prefix ?? 'live';
  if (!/^[a-z0-9]{1,16}$/.test(label)) {
    throw invalid('prefix', 'must be 1 to 16 lower-case letters or digits, such as live or test');
  }
  const interval = checkOption(
    OPTIONS,
    'lastUsedIntervalMs',
    options.lastUsedIntervalMs ?? 60_000,
    durationMsRule({ min: 0, open: 'or more' }),
  );
  const pepper = options.pepper;
  if (
    pepper !== undefined &&
    (pepper.length === 0 || (typeof pepper !== 'string' && !(pepper instanceof Uint8Array)))
  ) {
    throw invalid('pepper', 'must be a non-empty string or bytes');
  }
  const now = options.now ?? Date.now;
  const logger = (options.logger ?? silentLogger).child({ component: '@fairmind/auth' });
  const rateLimit = options.rateLimit;
  // When this instance last wrote lastUsedAt per key; bounded, and a lost entry costs one write.
  const touched = new LRUCache<string, number>({ max: 10_000 });

  const hashSecret = (secret: string): string =>
    pepper === undefined
      ? createHash('sha256').update(secret).digest('hex')
      : createHmac('sha256', pepper).update(secret).digest('hex');
  // Compared against when the id is unknown, so that path does the same work.
  const dummyHash = hashSecret(randomBase62(SECRET_LENGTH));

  function matches(secret: string, stored: string | undefined): boolean {
    const given = Buffer.from(hashSecret(secret), 'hex');
    const expected = Buffer.from(
      stored !== undefined && /^[0-9a-f]{64}$/.test(stored) ? stored : dummyHash,
      'hex',
    );
    return timingSafeEqual(given, expected) && stored !== undefined;
  }

  function touch(record: ApiKeyRecord, at: number): void {
    const last = Math.max(record.lastUsedAt ?? 0, touched.get(record.id) ?? 0);
    if (at - last < interval) return;
    touched.set(record.id, at);
    store.touch(record.id, at).catch((error: unknown) => {
      logger.warn(
        { keyId: record.id, error: describe(error) },
        `${PREFIX} could not record an API key's last use`,
      );
    });
  }

  function checkScopes(
    role: string,
    scopes: readonly string[] | null | undefined,
  ): readonly string[] | null {
    if (scopes === null || scopes === undefined) return null;
    if (!Array.isArray(scopes) || scopes.length === 0 || scopes.length > 100) {
      throw validationFailed(
        'scopes must be a list of 1 to 100 permissions, or left out for all of yours',
      );
    }
    for (const scope of scopes) {
      if (!isPermission(scope)) {
        throw validationFailed(
          `scope ${JSON.stringify(scope)} is not a permission such as models:read`,
        );
      }
      const decision = rbac.check(role, scope);
      if (!decision.allowed) {
        throw forbidden(
          `the scope ${JSON.stringify(scope)} is outside your own permissions (${decision.reason})`,
        );
      }
    }
    return [...new Set(scopes)];
  }

  return {
    async create(input) {
      const name = typeof input.name === 'string' ? input.name.trim() : '';
      if (name.length === 0 || name.length > 100) {
        throw validationFailed('an API key needs a name of 1 to 100 characters');
      }
      if (!rbac.has(input.ownerRole)) {
        throw forbidden(`unknown role ${JSON.stringify(input.ownerRole)} cannot own API keys`);
      }
      const scopes = checkScopes(input.ownerRole, input.scopes);
      const createdAt = now();
      const expiresAt = input.expiresAt ?? null;
      if (expiresAt !== null && (!Number.isFinite(expiresAt) || expiresAt <= createdAt)) {
        throw validationFailed('an API key must expire in the future');
      }
      const id = randomBase62(ID_LENGTH);
      const secret = randomBase62(SECRET_LENGTH);
      const body = `fm_${label}_${id}_${secret}`;
      const key = body + apiKeyChecksum(body);
      const record: ApiKeyRecord = {
        id,
        ownerId: input.ownerId,
        name,
        prefix: `fm_${label}_${id}`,
        secretHash: hashSecret(secret),
        scopes,
        createdAt,
        expiresAt,
        revokedAt: null,
        lastUsedAt: null,
      };
      await store.insert(record);
      return { key, record };
    },

    async verify(key) {
      const parts = parseApiKey(key);
      if (parts === undefined) {
        throw tokenInvalid('the API key is malformed or mistyped (its checksum does not match)');
      }
      const record = await store.findById(parts.id);
      if (!matches(parts.secret, record?.secretHash) || record === null) {
        throw tokenInvalid('the API key is not known');
      }
      const at = now();
      if (record.revokedAt !== null) throw tokenRevoked('the API key');
      if (record.expiresAt !== null && record.expiresAt <= at) throw tokenExpired('the API key');
      const role = await options.roleOf(record.ownerId);
      if (role === null) throw tokenRevoked("the API key's owner no longer exists, so the API key");
      await rateLimit?.(record);
      touch(record, at);
      return {
        type: 'api_key',
        id: record.ownerId,
        role,
        scopes: record.scopes ?? undefined,
        apiKeyId: record.id,
        expiresAt: record.expiresAt === null ? undefined : Math.floor(record.expiresAt / 1000),
      };
    },

    async revoke(id, ownerId) {
      const record = await store.findById(id);
      if (record === null || (ownerId !== undefined && record.ownerId !== ownerId)) {
        throw new FairmindError('NOT_FOUND', 404, `${PREFIX} no such API key: check the id`);
      }
      const at = now();
      await store.revoke(id, at);
      touched.delete(id);
      return { ...record, revokedAt: record.revokedAt ?? at };
    },

    list(ownerId) {
      return store.listByOwner(ownerId);
    },
  };
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
