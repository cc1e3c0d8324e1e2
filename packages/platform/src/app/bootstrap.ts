import type { Auth, UserStore } from '@fairmind/auth';
import type { Logger } from '@fairmind/core';
import { type Database, sql } from '@fairmind/db-pool';

// The advisory lock the first-admin bootstrap takes on PostgreSQL ('FMAD'); a constant
// shared by every instance, distinct from the migrations' locks.
const FIRST_ADMIN_LOCK = 0x464d4144;

/** What {@link bootstrapAdmin} needs. */
export interface BootstrapContext {
  readonly db: Database;
  readonly users: UserStore;
  readonly auth: Auth;
  readonly logger: Logger;
  /** `FAIRMIND_ADMIN_EMAIL` and `FAIRMIND_ADMIN_PASSWORD`. */
  readonly admin: { readonly email: string; readonly password: string };
}

/**
 * Creates the first admin while the user table is empty, once across every instance that
 * starts at the same moment: the count and the insert run in one transaction under a lock
 * (an advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite), so the second instance waits,
 * then finds the admin instead of failing on the unique email.
 */
export async function bootstrapAdmin({
  db,
  users,
  auth,
  logger,
  admin,
}: BootstrapContext): Promise<void> {
  const created = await db.transaction(
    async (tx) => {
      if (db.driver === 'postgres') {
        await tx.query(sql`select pg_advisory_xact_lock(${FIRST_ADMIN_LOCK}::bigint)`);
      }
      if ((await users.count()) > 0) return false;
      await auth.createUser({ email: admin.email, password: admin.password, role: 'admin' });
      return true;
    },
    { sqliteMode: 'immediate' },
  );
  if (created) {
    logger.info({ email: admin.email }, '[@fairmind/platform] created the first admin');
  } else {
    logger.info(
      { email: admin.email },
      '[@fairmind/platform] the first admin already exists (made by another instance or an earlier start): FAIRMIND_ADMIN_EMAIL and FAIRMIND_ADMIN_PASSWORD are ignored',
    );
  }
}
