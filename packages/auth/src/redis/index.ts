import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { invalid } from '../errors/index.js';
import type { AttemptRecord, AttemptStore } from '../lockout/index.js';
import type { RefreshFamilyStore, RotateOutcome } from '../refresh/index.js';
import type { RevocationReason, RevocationStore } from '../revocation/index.js';

/** An ioredis client or cluster; the caller owns it (connects it, closes it). */
export type RedisClient = Redis | Cluster;

/** Options shared by the Redis stores. */
export interface RedisStoreOptions {
  /** The ioredis client (or Cluster), created and closed by the caller. */
  client: RedisClient;
  /**
   * Put in front of every key. Keys carry `{hash tags}` so each script touches one slot of a
   * Redis Cluster; the prefix itself must not contain braces.
   * @default 'fairmind:auth:'
   */
  prefix?: string | undefined;
  /**
   * The clock in milliseconds, for TTLs.
   * @default Date.now
   */
  now?: (() => number) | undefined;
}

interface Resolved {
  client: RedisClient;
  prefix: string;
  now: () => number;
}

function resolve(options: RedisStoreOptions, what: string): Resolved {
  const client = options?.client;
  if (typeof client?.evalsha !== 'function' || typeof client.mget !== 'function') {
    throw invalid(`${what} client`, 'must be an ioredis client or Cluster (new Redis(url))');
  }
  const prefix = options.prefix ?? 'fairmind:auth:';
  if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
    throw invalid(
      `${what} prefix`,
      'must be a string without { or } (they would break the hash tags)',
    );
  }
  return { client, prefix, now: options.now ?? Date.now };
}

type Script = (
  client: RedisClient,
  keys: readonly string[],
  args: readonly (string | number)[],
) => Promise<unknown>;

/** A Lua script run by its SHA, loaded on the first NOSCRIPT (after a restart or failover). */
function script(lua: string): Script {
  const sha = createHash('sha1').update(lua).digest('hex');
  return async (client, keys, args) => {
    try {
      return await client.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.eval(lua, keys.length, ...keys, ...args);
    }
  };
}

// A later cutoff replaces an earlier one, never the reverse, and the key lives until the
// last token it concerns has expired.
const RAISE_CUTOFF = script(`
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) >= tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl >= 0 and ttl < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`);

/**
 * Revocations in Redis, shared by every instance. A revoked id lives exactly as long as the
 * token could (its TTL is the token's remaining lifetime). One check is one MGET of the
 * token's id, its family and its user's cutoff, three keys in one hash slot.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { createRedisRevocationStore } from '@fairmind/auth/redis';
 * const revocation = createRedisRevocationStore({ client: new Redis(process.env.REDIS_URL) });
 * const auth = createAuth({ secret, revocation });
 * ```
 */
export function createRedisRevocationStore(options: RedisStoreOptions): RevocationStore {
  const { client, prefix, now } = resolve(options, 'createRedisRevocationStore');
  const base = (sub: string) => `${prefix}{u:${sub}}:`;
  const ttlMs = (expiresAt: number) => expiresAt * 1000 - now();
  const put = async (key: string, expiresAt: number) => {
    const ttl = Math.ceil(ttlMs(expiresAt));
    if (ttl > 0) await client.set(key, '1', 'PX', ttl);
  };
  return {
    revokeToken: (jti, sub, expiresAt) => put(`${base(sub)}t:${jti}`, expiresAt),
    revokeFamily: (fam, sub, expiresAt) => put(`${base(sub)}f:${fam}`, expiresAt),
    async revokeSubject(sub, notBefore, expiresAt) {
      const ttl = Math.ceil(ttlMs(expiresAt));
      if (ttl > 0) await RAISE_CUTOFF(client, [`${base(sub)}cut`], [notBefore, ttl]);
    },
    async check(query): Promise<RevocationReason | null> {
      const keyBase = base(query.sub);
      const [token, family, cutoff] = await client.mget(
        `${keyBase}t:${query.jti}`,
        query.fam === undefined ? `${keyBase}f:` : `${keyBase}f:${query.fam}`,
        `${keyBase}cut`,
      );
      if (token !== null && token !== undefined) return 'token';
      if (query.fam !== undefined && family !== null && family !== undefined) return 'family';
      if (cutoff !== null && cutoff !== undefined && query.iat <= Number(cutoff)) return 'subject';
      return null;
    },
  };
}

// KEYS[1] the family hash; ARGV: presented jti, next jti, now (s). The check and the swap
// happen in one script, so of many concurrent refreshes exactly one sees its token current.
const ROTATE = script(`
local family = redis.call('HMGET', KEYS[1], 'sub', 'cur', 'exp', 'rev')
if not family[1] then return {'unknown'} end
if family[4] == '1' then return {'revoked'} end
if tonumber(family[3]) <= tonumber(ARGV[3]) then return {'expired'} end
if family[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'cur', ARGV[2])
  return {'rotated', family[1], family[3]}
end
redis.call('HSET', KEYS[1], 'rev', '1')
return {'reused', family[1], family[3]}
`);

const REVOKE_FAMILY = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'rev', '1')
return 1
`);

/**
 * Refresh-token families in Redis: one hash per family that lives until the family's
 * absolute end; rotation and reuse detection are one Lua script.
 *
 * @example
 * ```ts
 * const refreshFamilies = createRedisRefreshFamilyStore({ client: redis });
 * const auth = createAuth({ secret, refreshFamilies });
 * ```
 */
export function createRedisRefreshFamilyStore(options: RedisStoreOptions): RefreshFamilyStore {
  const { client, prefix } = resolve(options, 'createRedisRefreshFamilyStore');
  const key = (id: string) => `${prefix}{f:${id}}`;
  return {
    async create(family) {
      await client
        .multi()
        .hset(key(family.id), {
          sub: family.subject,
          cur: family.tokenId,
          exp: String(family.expiresAt),
          created: String(family.createdAt),
          rev: '0',
        })
        .pexpireat(key(family.id), family.expiresAt * 1000)
        .exec();
    },
    async rotate(familyId, presentedTokenId, nextTokenId, now): Promise<RotateOutcome> {
      const [status, subject, expiresAt] = (await ROTATE(
        client,
        [key(familyId)],
        [presentedTokenId, nextTokenId, now],
      )) as [string, string?, string?];
      if (status === 'rotated' || status === 'reused') {
        return { status, subject: subject as string, expiresAt: Number(expiresAt) };
      }
      return { status: status as 'revoked' | 'expired' | 'unknown' };
    },
    async revoke(familyId) {
      return (await REVOKE_FAMILY(client, [key(familyId)], [])) === 1;
    },
  };
}

const FAIL = script(`
local count = redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return count
`);

/**
 * Login failure counters in Redis, so a lockout holds on every instance.
 *
 * @example
 * ```ts
 * const auth = createAuth({ secret, users, attempts: createRedisAttemptStore({ client: redis }) });
 * ```
 */
export function createRedisAttemptStore(options: RedisStoreOptions): AttemptStore {
  const { client, prefix } = resolve(options, 'createRedisAttemptStore');
  const key = (name: string) => `${prefix}{a:${name}}`;
  return {
    async fail(name, windowMs, now): Promise<AttemptRecord> {
      const count = Number(await FAIL(client, [key(name)], [now, windowMs]));
      return { count, lastFailureAt: now };
    },
    async get(name) {
      const [count, last] = await client.hmget(key(name), 'count', 'last');
      if (count === null || count === undefined) return null;
      return { count: Number(count), lastFailureAt: Number(last) };
    },
    async reset(name) {
      await client.del(key(name));
    },
  };
}
