import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Database, type Queryable, sql } from '@fairmind/db-pool';
import type { ApiKeyRecord, ApiKeyStore } from '../apikeys/index.js';
import type { AuditSink } from '../audit/index.js';
import {
  type RefreshFamilyStore,
  type RotateOutcome,
  withinReuseInterval,
} from '../refresh/index.js';
import type { DurableRevocationStore, RevocationReason } from '../revocation/index.js';
import { emailTaken, normaliseEmail, type UserRecord, type UserStore } from '../users/index.js';

/**
 * The directory of this package's SQL migrations (`migrations/` in the package), found next
 * to the built module (`dist/`) or the sources (`src/sql/`).
 */
function findMigrationsDir(): string {
  const candidates = ['../migrations/', '../../migrations/'].map((relative) =>
    fileURLToPath(new URL(relative, import.meta.url)),
  );
  return (
    candidates.find((dir) => existsSync(`${dir}001_auth_schema.sql`)) ?? (candidates[0] as string)
  );
}

/** The directory of the auth tables' migration files; apply with db-pool's `migrate`. */
export const authMigrationsDir: string = findMigrationsDir();

/** The record table for these migrations, apart from the application's own. */
export const authMigrationsTable = 'fairmind_auth_migrations';

/**
 * What db-pool's `migrate` needs to create the auth tables, on PostgreSQL or SQLite.
 *
 * @example
 * ```ts
 * import { createDatabase, migrate } from '@fairmind/db-pool';
 * import { authMigrations } from '@fairmind/auth/sql';
 * const db = createDatabase({ url: process.env.DATABASE_URL });
 * await migrate({ db, ...authMigrations });
 * ```
 */
export const authMigrations = { dir: authMigrationsDir, table: authMigrationsTable } as const;

type Nullable = number | string | null | undefined;

function num(value: Nullable): number {
  return Number(value);
}

function maybeNum(value: Nullable): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** One row of `auth_refresh_families`, as `rotate` reads it. */
interface FamilyRow {
  readonly subject: string;
  readonly current_token_id: string;
  readonly previous_token_id: string | null;
  readonly rotated_at: Nullable;
  readonly expires_at: Nullable;
  readonly revoked_at: Nullable;
}

/**
 * Refresh-token families in SQL. `rotate` takes the family's row lock (`SELECT ... FOR
 * UPDATE` on PostgreSQL; `BEGIN IMMEDIATE`, the database write lock, on SQLite), so concurrent
 * refreshes of one token are serialised and exactly one sees it current.
 *
 * @example
 * ```ts
 * const auth = createAuth({ secret, refreshFamilies: createSqlRefreshFamilyStore(db) });
 * ```
 */
export function createSqlRefreshFamilyStore(db: Database): RefreshFamilyStore {
  const lock = db.driver === 'postgres' ? sql.raw(' for update') : sql.empty;
  return {
    async create(family) {
      await db.query(sql`insert into auth_refresh_families
        (id, subject, current_token_id, created_at, expires_at, revoked_at)
        values (${family.id}, ${family.subject}, ${family.tokenId}, ${family.createdAt}, ${family.expiresAt}, ${null})`);
    },
    rotate(rotation) {
      const { familyId, presentedTokenId, nextTokenId, now } = rotation;
      return db.transaction(
        async (tx: Queryable): Promise<RotateOutcome> => {
          const row = await tx.maybeOne<FamilyRow>(sql`select subject, current_token_id,
                   previous_token_id, rotated_at, expires_at, revoked_at
                 from auth_refresh_families where id = ${familyId}${lock}`);
          if (row === null) return { status: 'unknown' };
          if (row.revoked_at !== null && row.revoked_at !== undefined) return { status: 'revoked' };
          const family = { subject: row.subject, expiresAt: num(row.expires_at) };
          if (family.expiresAt <= now) return { status: 'expired' };
          if (row.current_token_id === presentedTokenId) {
            await tx.query(sql`update auth_refresh_families set current_token_id = ${nextTokenId},
                                 previous_token_id = ${presentedTokenId}, rotated_at = ${now}
                               where id = ${familyId}`);
            return { status: 'rotated', ...family, tokenId: nextTokenId, rotatedAt: now };
          }
          const rotatedAt = maybeNum(row.rotated_at);
          if (
            row.previous_token_id === presentedTokenId &&
            rotatedAt !== null &&
            withinReuseInterval(rotation, rotatedAt)
          ) {
            return { status: 'repeated', ...family, tokenId: row.current_token_id, rotatedAt };
          }
          await tx.query(
            sql`update auth_refresh_families set revoked_at = ${now} where id = ${familyId}`,
          );
          return { status: 'reused', ...family };
        },
        { sqliteMode: 'immediate' },
      );
    },
    async revoke(familyId) {
      const { rowCount } = await db.query(sql`update auth_refresh_families
        set revoked_at = ${Math.floor(Date.now() / 1000)}
        where id = ${familyId} and revoked_at is null`);
      return rowCount > 0;
    },
  };
}

/** Options of {@link createSqlRevocationStore}. */
export interface SqlRevocationStoreOptions {
  /**
   * The clock in milliseconds: rows past their `expires_at` are ignored and swept.
   * @default Date.now
   */
  now?: (() => number) | undefined;
}

// Rows past their expiry are deleted on one write in this many, so the table follows the
// tokens in circulation without a job of its own.
const SWEEP_EVERY = 100;
const REASONS: Readonly<Record<string, RevocationReason>> = {
  t: 'token',
  f: 'family',
  s: 'subject',
};

/** One row of `auth_revocations`, but its kind. */
interface RevocationRow {
  readonly id: string;
  readonly subject: string;
  /** Seconds since the epoch; `null` but for a subject's cutoff. */
  readonly notBefore: number | null;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
}

/**
 * Revocations in SQL (`auth_revocations`): durable, and shared by every instance on the same
 * database. A check is one indexed lookup (primary key `(kind, id)`) of the token's id, its
 * family and its user's cutoff. Alone it suits a deployment without Redis; with Redis, give it
 * to {@link createLayeredRevocationStore} as the durable copy behind the Redis store.
 *
 * @example
 * ```ts
 * const auth = createAuth({ secret, revocation: createSqlRevocationStore(db) });
 * ```
 */
export function createSqlRevocationStore(
  db: Database,
  options: SqlRevocationStoreOptions = {},
): DurableRevocationStore {
  const now = options.now ?? Date.now;
  let writes = 0;
  // A longer life or a later cutoff replaces a shorter or earlier one, never the reverse
  // (the same rule as the Redis store's); ON CONFLICT ... DO UPDATE runs on both engines.
  const upsert = async (kind: 't' | 'f' | 's', row: RevocationRow) => {
    const { id, subject, notBefore, expiresAt } = row;
    if (expiresAt * 1000 <= now()) return;
    await db.query(sql`insert into auth_revocations (kind, id, subject, not_before, expires_at)
      values (${kind}, ${id}, ${subject}, ${notBefore}, ${expiresAt})
      on conflict (kind, id) do update set
        not_before = case when excluded.not_before > auth_revocations.not_before
          then excluded.not_before else auth_revocations.not_before end,
        expires_at = case when excluded.expires_at > auth_revocations.expires_at
          then excluded.expires_at else auth_revocations.expires_at end`);
    if (++writes % SWEEP_EVERY === 0) {
      await db.query(
        sql`delete from auth_revocations where expires_at <= ${Math.floor(now() / 1000)}`,
      );
    }
  };
  return {
    revokeToken: (jti, sub, expiresAt) =>
      upsert('t', { id: jti, subject: sub, notBefore: null, expiresAt }),
    revokeFamily: (fam, sub, expiresAt) =>
      upsert('f', { id: fam, subject: sub, notBefore: null, expiresAt }),
    revokeSubject: (sub, notBefore, expiresAt) =>
      upsert('s', { id: sub, subject: sub, notBefore, expiresAt }),
    async check(query) {
      const row = await db.maybeOne<{ kind: string }>(sql`select kind from auth_revocations
        where expires_at > ${Math.floor(now() / 1000)} and (
          (kind = 't' and id = ${query.jti})
          or (kind = 'f' and id = ${query.fam ?? ''})
          or (kind = 's' and id = ${query.sub} and not_before >= ${query.iat}))
        order by kind desc limit 1`);
      return row === null ? null : (REASONS[row.kind] ?? 'token');
    },
    async markUnreplicated(at) {
      await db.query(sql`insert into auth_revocation_state (name, value)
        values (${'unreplicated_before'}, ${at})
        on conflict (name) do update set value = case
          when excluded.value > auth_revocation_state.value then excluded.value
          else auth_revocation_state.value end`);
    },
    async unreplicatedBefore() {
      const row = await db.maybeOne<{ value: Nullable }>(
        sql`select value from auth_revocation_state where name = ${'unreplicated_before'}`,
      );
      return row === null ? 0 : num(row.value);
    },
  };
}

type UserRow = {
  id: string;
  email: string;
  password_hash: string;
  role: string;
  created_at: Nullable;
  updated_at: Nullable;
  disabled_at: Nullable;
};

function userOf(row: UserRow): UserRecord {
  return {
    id: row.id,
    email: row.email,
    passwordHash: row.password_hash,
    role: row.role,
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
    disabledAt: maybeNum(row.disabled_at),
  };
}

/**
 * Users in SQL (`auth_users`). The email is stored normalised and unique; a taken one is a
 * 409 `CONFLICT`.
 *
 * @example
 * ```ts
 * const auth = createAuth({ secret, users: createSqlUserStore(db) });
 * ```
 */
export function createSqlUserStore(db: Database): UserStore {
  const columns = sql`id, email, password_hash, role, created_at, updated_at, disabled_at`;
  return {
    async findByEmail(email) {
      const row = await db.maybeOne<UserRow>(
        sql`select ${columns} from auth_users where email = ${normaliseEmail(email)}`,
      );
      return row === null ? null : userOf(row);
    },
    async findById(id) {
      const row = await db.maybeOne<UserRow>(
        sql`select ${columns} from auth_users where id = ${id}`,
      );
      return row === null ? null : userOf(row);
    },
    async create(user) {
      try {
        await db.query(sql`insert into auth_users (id, email, password_hash, role, created_at, updated_at)
          values (${user.id}, ${normaliseEmail(user.email)}, ${user.passwordHash}, ${user.role},
                  ${user.createdAt}, ${user.updatedAt})`);
      } catch (error) {
        if ((error as { kind?: unknown }).kind === 'unique_violation') throw emailTaken(error);
        throw error;
      }
    },
    async update(id, changes) {
      const sets = [sql`updated_at = ${changes.updatedAt}`];
      if (changes.passwordHash !== undefined)
        sets.push(sql`password_hash = ${changes.passwordHash}`);
      if (changes.role !== undefined) sets.push(sql`role = ${changes.role}`);
      if (changes.disabledAt !== undefined) sets.push(sql`disabled_at = ${changes.disabledAt}`);
      const { rowCount } = await db.query(
        sql`update auth_users set ${sql.join(sets)} where id = ${id}`,
      );
      return rowCount > 0;
    },
    async delete(id) {
      const { rowCount } = await db.query(sql`delete from auth_users where id = ${id}`);
      return rowCount > 0;
    },
    async count() {
      const row = await db.one<{ n: Nullable }>(sql`select count(*) as n from auth_users`);
      return num(row.n);
    },
  };
}

type ApiKeyRow = {
  id: string;
  owner_id: string;
  name: string;
  prefix: string;
  secret_hash: string;
  scopes: string | null;
  created_at: Nullable;
  expires_at: Nullable;
  revoked_at: Nullable;
  last_used_at: Nullable;
};

function apiKeyOf(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    ownerId: row.owner_id,
    name: row.name,
    prefix: row.prefix,
    secretHash: row.secret_hash,
    scopes: row.scopes === null ? null : (JSON.parse(row.scopes) as string[]),
    createdAt: num(row.created_at),
    expiresAt: maybeNum(row.expires_at),
    revokedAt: maybeNum(row.revoked_at),
    lastUsedAt: maybeNum(row.last_used_at),
  };
}

/**
 * API keys in SQL (`auth_api_keys`): the secret's hash only.
 *
 * @example
 * ```ts
 * const auth = createAuth({ secret, users, apiKeys: createSqlApiKeyStore(db) });
 * ```
 */
export function createSqlApiKeyStore(db: Database): ApiKeyStore {
  const columns = sql`id, owner_id, name, prefix, secret_hash, scopes, created_at, expires_at, revoked_at, last_used_at`;
  return {
    async insert(record) {
      await db.query(sql`insert into auth_api_keys (${columns}) values (
        ${record.id}, ${record.ownerId}, ${record.name}, ${record.prefix}, ${record.secretHash},
        ${record.scopes === null ? null : JSON.stringify(record.scopes)}, ${record.createdAt},
        ${record.expiresAt}, ${record.revokedAt}, ${record.lastUsedAt})`);
    },
    async findById(id) {
      const row = await db.maybeOne<ApiKeyRow>(
        sql`select ${columns} from auth_api_keys where id = ${id}`,
      );
      return row === null ? null : apiKeyOf(row);
    },
    async listByOwner(ownerId) {
      const rows = await db.many<ApiKeyRow>(
        sql`select ${columns} from auth_api_keys where owner_id = ${ownerId} order by created_at desc, id`,
      );
      return rows.map(apiKeyOf);
    },
    async revoke(id, at) {
      const { rowCount } = await db.query(
        sql`update auth_api_keys set revoked_at = ${at} where id = ${id} and revoked_at is null`,
      );
      return rowCount > 0;
    },
    async touch(id, at) {
      await db.query(sql`update auth_api_keys set last_used_at = ${at} where id = ${id}`);
    },
  };
}

/**
 * An audit sink writing to `auth_audit_events` (details as JSON text).
 *
 * @example
 * ```ts
 * const auth = createAuth({ secret, audit: [createSqlAuditSink(db), createLoggerAuditSink(logger)] });
 * ```
 */
export function createSqlAuditSink(db: Database): AuditSink {
  return {
    async write(event) {
      await db.query(sql`insert into auth_audit_events (id, type, actor_id, ip, at, details)
        values (${event.id}, ${event.type}, ${event.actorId}, ${event.ip}, ${event.at},
                ${JSON.stringify(event.details)})`);
    },
  };
}
