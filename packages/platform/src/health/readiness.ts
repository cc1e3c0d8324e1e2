import { FairmindError } from '@fairmind/core';
import { type Database, migrationStatus } from '@fairmind/db-pool';

/** What `/health/ready` checks. */
export interface ReadinessDeps {
  db: Database;
  migrations: ReadonlyArray<{ readonly dir: string; readonly table: string }>;
  /** True once shutdown began: readiness fails so load balancers stop sending new requests. */
  draining?: (() => boolean) | undefined;
}

/** The 503 of `/health/ready`, naming the check that failed so an operator knows where to look. */
function notReady(check: string, reason: string): FairmindError {
  return new FairmindError('NOT_READY', 503, `${reason} (check: ${check}).`, {
    expose: true,
    details: { check },
  });
}

async function pendingMigrations({ db, migrations }: ReadinessDeps): Promise<number> {
  let pending = 0;
  for (const { dir, table } of migrations) {
    const entries = await migrationStatus({ db, dir, table });
    pending += entries.filter((entry) => entry.state !== 'applied').length;
  }
  return pending;
}

/**
 * Resolves when this instance may take traffic: not shutting down, the database answering,
 * every migration applied. Otherwise throws the first failing check's 503, cheapest first.
 */
export async function checkReadiness(deps: ReadinessDeps): Promise<void> {
  if (deps.draining?.()) throw notReady('shutdown', 'The server is shutting down');
  const database = await deps.db.health({ timeoutMs: 2000 });
  if (!database.ok) throw notReady('database', 'The database is not answering');
  const pending = await pendingMigrations(deps);
  if (pending > 0) throw notReady('migrations', `${pending} migration(s) are not applied`);
}
