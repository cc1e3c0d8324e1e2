import { createHash, randomUUID } from 'node:crypto';
import {
  checkOption,
  durationMsRule,
  type Logger,
  silentLogger,
  watchRedisClient,
  wholeNumberRule,
} from '@fairmind/core';
import type { Cluster, Redis } from 'ioredis';
import { withDeadline } from '../deadline/index.js';
import { invalid, PREFIX } from '../errors/index.js';
import { OPTIONS } from '../errors/options.js';
import type { AttemptRecord, AttemptStore } from '../lockout/index.js';
import type { RefreshFamilyStore, RotateOutcome } from '../refresh/index.js';
import type { RevocationQuery, RevocationReason, RevocationStore } from '../revocation/index.js';
import { LocalAnswers, type LocalRevocationOptions, type Watermark } from './local.js';

export type { LocalRevocationOptions } from './local.js';

// Not exported: @fairmind/cache exports its own `RedisClient`, and one name must not mean two
// declarations to an app that imports both.
type RedisClient = Redis | Cluster;

/** Options shared by the Redis stores. */
export interface RedisAuthStoreOptions {
  /** The ioredis client (or Cluster), created and closed by the caller. */
  client: Redis | Cluster;
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
  /**
   * The deadline of one Redis command, in ms. Past it the call fails (and the login, refresh
   * or verification answers 503) rather than wait for a Redis that is frozen or far away.
   * @default 1000
   */
  timeoutMs?: number | undefined;
  /**
   * Where the client's connection state changes go: one warning when Redis becomes
   * unreachable, one line when it is back (the client gets an `'error'` listener either way).
   * @default silentLogger
   */
  logger?: Logger | undefined;
  /**
   * Revocation stores only: how many replicas must hold a revocation before it counts as
   * written (Redis `WAIT`, bounded by half of `timeoutMs`). Redis replicates asynchronously,
   * so a master that fails over right after a write can take the revocation with it; with
   * this set, a revocation no replica confirmed fails instead, and
   * {@link createLayeredRevocationStore} answers the tokens it concerns from SQL. Set it to 1
   * on a Redis Cluster (or a primary) with replicas; `0` waits for none.
   * @default 0
   */
  waitForReplicas?: number | undefined;
}

/** Options of {@link createRedisRevocationStore}. */
export interface RedisRevocationStoreOptions extends RedisAuthStoreOptions {
  /**
   * Keep each token's answer in this process, so a token presented again is checked with no
   * round trip. Every revocation also sets a counter in Redis, which each instance reads in
   * the background while checks come (at least every `staleMs`, 100 ms unless set); an
   * instance that cannot read it stops answering from memory. A revocation call resolves
   * `staleMs` after the counter changed, when every instance refuses the token. Off by
   * default: every check asks Redis.
   * @default false
   * @example
   * ```ts
   * createRedisRevocationStore({ client: redis, local: { staleMs: 100 } });
   * ```
   */
  local?: LocalRevocationOptions | boolean | undefined;
}

interface Resolved {
  prefix: string;
  now: () => number;
  /** Runs one command, or fails at once when the client is not connected (see below). */
  run<T>(command: (client: RedisClient) => Promise<T>): Promise<T>;
  /**
   * Waits until `waitForReplicas` replicas have the writes made so far to `key`'s node.
   * EXISTS of the key routes the pipeline to that node on a Cluster, whose client keeps one
   * connection per node, so WAIT covers the write just made on the same connection.
   */
  replicated(key: string): Promise<void>;
}

function resolve(options: RedisAuthStoreOptions, what: string): Resolved {
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
  const timeoutMs = checkOption(
    OPTIONS,
    `${what} timeoutMs`,
    options.timeoutMs ?? 1000,
    durationMsRule({ max: 60_000 }),
  );
  const waitForReplicas = checkOption(
    OPTIONS,
    `${what} waitForReplicas`,
    options.waitForReplicas ?? 0,
    wholeNumberRule({ min: 0, max: 16 }),
  );
  watchRedisClient(client, { logger: options.logger ?? silentLogger, name: '@fairmind/auth' });
  // Until the first connection is made, a command waits for it (within the deadline), as an
  // application that creates its client and uses it at once expects.
  let connectedOnce = client.status === 'ready';
  client.once('ready', () => {
    connectedOnce = true;
  });
  const run = <T>(command: (client: RedisClient) => Promise<T>): Promise<T> => {
    // A lazyConnect client never connects until asked to.
    if (client.status === 'wait') client.connect().catch(() => undefined);
    // Once it has been connected, a client that is not would queue the command until it
    // reconnects (ioredis's default offline queue), holding the login or logout for as long
    // as Redis is away, whatever options the application gave it: fail at once instead.
    if (connectedOnce && client.status !== 'ready') {
      return Promise.reject(
        new Error(`${PREFIX} Redis is not connected (client status: ${client.status})`),
      );
    }
    let reply: ReturnType<typeof command>;
    try {
      reply = command(client);
    } catch (error) {
      return Promise.reject(error);
    }
    return withDeadline(reply, timeoutMs, `${PREFIX} Redis`);
  };
  return {
    prefix,
    now: options.now ?? Date.now,
    run,
    async replicated(key) {
      if (waitForReplicas === 0) return;
      const waitMs = Math.max(1, Math.floor(timeoutMs / 2));
      const replies = await run((redis) =>
        redis.pipeline().exists(key).call('WAIT', waitForReplicas, waitMs).exec(),
      );
      const [error, acknowledged] = replies?.[1] ?? [new Error('no reply to WAIT')];
      if (error) throw error;
      if (Number(acknowledged) < waitForReplicas) {
        throw new Error(
          `${PREFIX} a revocation reached ${Number(acknowledged)} of ${waitForReplicas} ` +
            `Redis replicas within ${waitMs} ms; it would not survive a failover`,
        );
      }
    },
  };
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

// The epoch: when this Redis's revocation list began. Created once (SET NX semantics in one
// round trip) and never expiring, so it is gone exactly when Redis lost its data: restarted
// without persistence, flushed, or evicting keys it must not evict.
const EPOCH = script(`
local since = redis.call('GET', KEYS[1])
if since then return since end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`);

/** How often a check also reads the epoch, in ms. */
const EPOCH_CHECK_MS = 1000;

/**
 * Revocations in Redis, shared by every instance. A revoked id lives exactly as long as the
 * token could (its TTL is the token's remaining lifetime). One check is one MGET of the
 * token's id, its family and its user's cutoff, three keys in one hash slot.
 *
 * Redis may lose what it holds (a restart without persistence, a flush). Revocations must not
 * come back to life with it, so the store keeps an epoch key holding the time its list began:
 * a token issued before that time may have been revoked in the list that was lost, and is
 * answered `'reset'` (refused: sign in again) instead of trusted. Where revocations are also
 * kept in SQL, {@link createLayeredRevocationStore} asks the SQL store about those tokens
 * instead. The epoch is read with a check at most once a second, beside the MGET.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { createRedisRevocationStore } from '@fairmind/auth/redis';
 * const revocation = createRedisRevocationStore({ client: new Redis(process.env.REDIS_URL) });
 * const auth = createAuth({ secret, revocation });
 * ```
 */
export function createRedisRevocationStore(options: RedisRevocationStoreOptions): RevocationStore {
  const { run, replicated, prefix, now } = resolve(options, 'createRedisRevocationStore');
  const base = (sub: string) => `${prefix}{u:${sub}}:`;
  const epochKey = `${prefix}{epoch}`;
  // Beside the epoch, in its slot, so that one MGET reads both on a Cluster too.
  const versionKey = `${prefix}{epoch}:version`;
  const ttlMs = (expiresAt: number) => expiresAt * 1000 - now();
  // Written, dropped here, then a new counter value: another instance's kept answers go once
  // it reads the counter. A value never used before, not INCR: a failover that loses one
  // raise cannot bring back a value an instance has seen. Dropped again after, so that a
  // check here asked meanwhile keeps nothing. The call resolves only once no instance can
  // still trust an answer from before the change (staleMs later): when a logout answers,
  // the token is refused on every instance, as if nothing were kept.
  const revoked = async (write: (client: RedisClient) => Promise<unknown>, key: string) => {
    await run(write);
    local?.drop();
    try {
      await replicated(key);
      if (local === undefined) return;
      await run((client) => client.set(versionKey, randomUUID()));
      await replicated(versionKey);
    } finally {
      local?.drop();
    }
    await local.outlived();
  };
  const put = async (key: string, expiresAt: number) => {
    const ttl = Math.ceil(ttlMs(expiresAt));
    if (ttl > 0) await revoked((client) => client.set(key, '1', 'PX', ttl), key);
  };
  const epoch = epochReader(run, epochKey);
  // The watermark read brings the epoch too: the checks use it at once, so no answer is
  // decided under the epoch of a list Redis has lost.
  const local = localAnswers(options.local, async () => {
    const at = now();
    const [version, since] = await run(
      (client) => client.mget(versionKey, epochKey) as Promise<[string | null, string | null]>,
    );
    if (since !== null) epoch.learned(Number(since), at);
    return [version, since];
  });
  return {
    revokeToken: (jti, sub, expiresAt) => put(`${base(sub)}t:${jti}`, expiresAt),
    revokeFamily: (fam, sub, expiresAt) => put(`${base(sub)}f:${fam}`, expiresAt),
    async revokeSubject(sub, notBefore, expiresAt) {
      const ttl = Math.ceil(ttlMs(expiresAt));
      if (ttl > 0) {
        const key = `${base(sub)}cut`;
        await revoked((client) => RAISE_CUTOFF(client, [key], [notBefore, ttl]), key);
      }
    },
    check(query) {
      if (local === undefined) return ask(query);
      const key = LocalAnswers.key(query);
      const kept = local.get(key);
      if (kept !== undefined) return kept;
      const generation = local.generation;
      return ask(query, (reason, epoch) => local.set(key, reason, { generation, epoch }));
    },
  };

  async function ask(
    query: RevocationQuery,
    keep?: (reason: RevocationReason | null, epoch: number) => void,
  ): Promise<RevocationReason | null> {
    const keyBase = base(query.sub);
    const at = now();
    const [[token, family, cutoff], since] = await Promise.all([
      run((client) =>
        client.mget(
          `${keyBase}t:${query.jti}`,
          query.fam === undefined ? `${keyBase}f:` : `${keyBase}f:${query.fam}`,
          `${keyBase}cut`,
        ),
      ),
      epoch.at(at),
    ]);
    const reason = reasonOf(query, [token, family, cutoff], since);
    keep?.(reason, since);
    return reason;
  }
}

/**
 * The epoch as last read (epoch ms) and when, read again with a check at most once per
 * EPOCH_CHECK_MS; a burst of checks when it is due shares one round trip.
 */
function epochReader(run: Resolved['run'], epochKey: string) {
  let since = 0;
  let sinceReadAt = Number.NEGATIVE_INFINITY;
  let reading: Promise<number> | undefined;
  const learned = (value: number, at: number) => {
    since = value;
    sinceReadAt = at;
  };
  return {
    learned,
    /** The epoch for a check made at `at` (the store's clock). */
    at(at: number): number | Promise<number> {
      if (at - sinceReadAt < EPOCH_CHECK_MS) return since;
      reading ??= run((client) => EPOCH(client, [epochKey], [at]))
        .then((value) => {
          learned(Number(value), at);
          return since;
        })
        .finally(() => {
          reading = undefined;
        });
      return reading;
    },
  };
}

/** The answer of one check, from its MGET and the epoch. */
function reasonOf(
  query: RevocationQuery,
  [token, family, cutoff]: readonly (string | null | undefined)[],
  epoch: number,
): RevocationReason | null {
  if (token !== null && token !== undefined) return 'token';
  if (query.fam !== undefined && family !== null && family !== undefined) return 'family';
  if (cutoff !== null && cutoff !== undefined && query.iat <= Number(cutoff)) return 'subject';
  // Issued before the list began: its revocation may have been lost. One second of slack,
  // because iat is whole seconds and a token's issuer creates the epoch (through the check
  // it makes before signing) a moment after taking its iat.
  if (query.iat < Math.floor(epoch / 1000) - 1) return 'reset';
  return null;
}

function localAnswers(
  option: RedisRevocationStoreOptions['local'],
  read: () => Promise<Watermark>,
): LocalAnswers | undefined {
  if (option === undefined || option === false) return undefined;
  if (option !== true && (typeof option !== 'object' || option === null)) {
    throw invalid(
      'createRedisRevocationStore local',
      'must be true, false or { staleMs, maxAgeMs, maxTokens }',
    );
  }
  return new LocalAnswers(option === true ? {} : option, read);
}

// KEYS[1] the family hash; ARGV: presented jti, next jti, now (s), reuse interval (s). The
// check and the swap happen in one script, so of many concurrent refreshes exactly one spends
// the token; within the interval the others get the token it moved on to (withinReuseInterval
// in ../refresh is the same rule).
const ROTATE = script(`
local family = redis.call('HMGET', KEYS[1], 'sub', 'cur', 'exp', 'rev', 'prev', 'rat')
if not family[1] then return {'unknown'} end
if family[4] == '1' then return {'revoked'} end
local now = tonumber(ARGV[3])
if tonumber(family[3]) <= now then return {'expired'} end
if family[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'cur', ARGV[2], 'prev', ARGV[1], 'rat', ARGV[3])
  return {'rotated', family[1], family[3], ARGV[2], ARGV[3]}
end
local interval = tonumber(ARGV[4])
if family[5] == ARGV[1] and interval > 0 and now - tonumber(family[6]) <= interval then
  return {'repeated', family[1], family[3], family[2], family[6]}
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
export function createRedisRefreshFamilyStore(options: RedisAuthStoreOptions): RefreshFamilyStore {
  const { run, prefix } = resolve(options, 'createRedisRefreshFamilyStore');
  const key = (id: string) => `${prefix}{f:${id}}`;
  return {
    async create(family) {
      await run((client) =>
        client
          .multi()
          .hset(key(family.id), {
            sub: family.subject,
            cur: family.tokenId,
            exp: String(family.expiresAt),
            created: String(family.createdAt),
            rev: '0',
          })
          .pexpireat(key(family.id), family.expiresAt * 1000)
          .exec(),
      );
    },
    async rotate(rotation): Promise<RotateOutcome> {
      const { presentedTokenId, nextTokenId, now, reuseIntervalSeconds } = rotation;
      const [status, subject, expiresAt, tokenId, rotatedAt] = (await run((client) =>
        ROTATE(
          client,
          [key(rotation.familyId)],
          [presentedTokenId, nextTokenId, now, reuseIntervalSeconds],
        ),
      )) as [string, string?, string?, string?, string?];
      const family = { subject: subject as string, expiresAt: Number(expiresAt) };
      if (status === 'rotated' || status === 'repeated') {
        return { status, ...family, tokenId: tokenId as string, rotatedAt: Number(rotatedAt) };
      }
      if (status === 'reused') return { status, ...family };
      return { status: status as 'revoked' | 'expired' | 'unknown' };
    },
    async revoke(familyId) {
      return (await run((client) => REVOKE_FAMILY(client, [key(familyId)], []))) === 1;
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
export function createRedisAttemptStore(options: RedisAuthStoreOptions): AttemptStore {
  const { run, prefix } = resolve(options, 'createRedisAttemptStore');
  const key = (name: string) => `${prefix}{a:${name}}`;
  return {
    async fail(name, windowMs, now): Promise<AttemptRecord> {
      const count = Number(await run((client) => FAIL(client, [key(name)], [now, windowMs])));
      return { count, lastFailureAt: now };
    },
    async get(name) {
      const [count, last] = await run((client) => client.hmget(key(name), 'count', 'last'));
      if (count === null || count === undefined) return null;
      return { count: Number(count), lastFailureAt: Number(last) };
    },
    async reset(name) {
      await run((client) => client.del(key(name)));
    },
  };
}
