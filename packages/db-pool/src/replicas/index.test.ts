// Read replicas on real engines: a private PostgreSQL cluster and a streaming replica of it
// (`pg_basebackup -R`), both started here on spare ports and stopped by pid.
import { recordingLogger, until } from '@fairmind/testing';
import { type PostgresServer, startPostgresServer } from '@fairmind/testing/servers';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../database/index.js';
import { createPostgresDatabase } from '../postgres/index.js';
import { sql } from '../sql/index.js';
import { parseLsn } from './index.js';

let primary: PostgresServer;
let replica: PostgresServer;

beforeAll(async () => {
  primary = await startPostgresServer();
  replica = await primary.startReplica();
  const admin = new pg.Client(primary.url);
  await admin.connect();
  await admin.query('create table notes (id serial primary key, body text not null)');
  await admin.end();
}, 60_000);

afterAll(async () => {
  await replica?.remove();
  await primary?.remove();
});

/** Runs one statement as the superuser on `server`, outside any pool under test. */
async function admin(server: PostgresServer, text: string): Promise<void> {
  const client = new pg.Client(server.url);
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

const onReplica = async (db: Database, after?: string | null) =>
  (
    await db
      .read(after === undefined ? {} : { after })
      .one<{ standby: boolean }>(sql`select pg_is_in_recovery() as standby`)
  ).standby;

function open(extra: { maxReplicaLagMs?: number; registry?: Registry } = {}) {
  const logger = recordingLogger();
  const db = createPostgresDatabase({
    url: primary.url,
    replicas: [replica.url],
    // The probes' deadline is twice this (at least 200 ms): at 100 a loaded CI machine, with
    // PgBouncer in between, timed a probe out and the replica was dropped for that instead of
    // for its lag.
    replicaCheckIntervalMs: 250,
    poolSize: 2,
    logger,
    ...extra,
  });
  return { db, logger };
}

describe('read replicas', () => {
  it('sends read() to the replica, and writes, transactions and plain queries to the primary', async () => {
    const registry = new Registry();
    const { db } = open({ registry });
    try {
      await until(() => db.replicas()[0]?.usable === true);
      expect(await onReplica(db)).toBe(true);
      // Everything not asked for as a read runs on the primary.
      expect(
        (await db.one<{ standby: boolean }>(sql`select pg_is_in_recovery() as standby`)).standby,
      ).toBe(false);
      await db.query(sql`insert into notes (body) values ('written')`);
      // Inside a transaction, read() is the transaction: it sees its own uncommitted row.
      await db
        .transaction(async (tx) => {
          await tx.query(sql`insert into notes (body) values ('uncommitted')`);
          const seen = await db
            .read()
            .maybeOne(sql`select id from notes where body = 'uncommitted'`);
          expect(seen).not.toBeNull();
          expect(await onReplica(db)).toBe(false);
          throw new Error('roll back');
        })
        .catch((error: unknown) => expect((error as Error).message).toBe('roll back'));
      const [status] = db.replicas();
      expect(status).toMatchObject({ usable: true, lastError: null });
      expect(status?.name).toBe(`127.0.0.1:${replica.port}`);
      const metrics = await registry.metrics();
      expect(metrics).toMatch(
        new RegExp(
          `fairmind_db_reads_total\\{pool="default",target="127.0.0.1:${replica.port}"\\} [1-9]`,
        ),
      );
      expect(metrics).toMatch(/fairmind_db_replica_usable\{[^}]*\} 1/);
      expect(metrics).toMatch(/fairmind_db_replica_lag_seconds\{[^}]*\} \d/);
      expect(metrics).toMatch(/fairmind_db_pool_connections\{pool="default-replica-1"/);
    } finally {
      await db.close();
    }
  });

  it('reads a write back with read({ after: writePosition() }), and drops a lagging replica until it catches up', async () => {
    const { db, logger } = open({ maxReplicaLagMs: 500 });
    try {
      await until(() => db.replicas()[0]?.usable === true);
      await admin(replica, 'select pg_wal_replay_pause()');
      await db.query(sql`insert into notes (body) values ('fresh')`);
      const position = await db.writePosition();
      expect(position).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      const fresh = sql`select count(*)::int as n from notes where body = 'fresh'`;
      // The replica has not replayed the write: read({ after }) goes to the primary and sees it.
      expect((await db.read({ after: position }).one<{ n: number }>(fresh)).n).toBe(1);
      expect(await onReplica(db, position)).toBe(false);
      // Past the lag limit the replica is left out of every read, with one warning.
      await until(() => db.replicas()[0]?.usable === false);
      expect(db.replicas()[0]?.lastError).toMatch(
        /lags \d+ ms behind the primary \(limit 500 ms\)/,
      );
      expect(await onReplica(db)).toBe(false);
      expect(logger.warns).toEqual([
        expect.objectContaining({
          replica: `127.0.0.1:${replica.port}`,
          reason: expect.stringMatching(/lags/),
        }),
      ]);
      // Replaying again, it catches up and comes back, and now holds the write itself.
      await admin(replica, 'select pg_wal_replay_resume()');
      await until(() => db.replicas()[0]?.usable === true);
      expect(await onReplica(db, position)).toBe(true);
      expect((await db.read({ after: position }).one<{ n: number }>(fresh)).n).toBe(1);
    } finally {
      await admin(replica, 'select pg_wal_replay_resume()');
      await db.close();
    }
  });

  it('reads a write made just now on the replica once it has replayed it, never without it', async () => {
    const registry = new Registry();
    const { db } = open({ registry });
    try {
      await until(() => db.replicas()[0]?.usable === true);
      let onStandby = 0;
      for (let round = 0; round < 20; round++) {
        const body = `round-${round}`;
        await db.query(sql`insert into notes (body) values (${body})`);
        const after = await db.writePosition();
        const row = await db
          .read({ after })
          .one<{ n: number; standby: boolean }>(
            sql`select count(*)::int as n, pg_is_in_recovery() as standby from notes where body = ${body}`,
          );
        expect(row.n).toBe(1);
        if (row.standby) onStandby++;
      }
      console.log(`[replicas] read-your-writes: ${onStandby} of 20 reads ran on the replica`);
      // Replication on loopback takes about a millisecond: most such reads find it caught up.
      expect(onStandby).toBeGreaterThan(0);
    } finally {
      await db.close();
    }
  });

  it('keeps reading through a dead replica on the primary, and comes back to it', async () => {
    const { db } = open();
    try {
      await until(() => db.replicas()[0]?.usable === true);
      await replica.kill();
      // Every read succeeds, whether it finds the replica gone or it is already left out.
      for (let index = 0; index < 20; index++) {
        expect(await onReplica(db)).toBe(false);
      }
      expect(db.replicas()[0]?.usable).toBe(false);
      expect(db.replicas()[0]?.lastError).toMatch(/failed/);
      await replica.restart();
      await until(() => db.replicas()[0]?.usable === true, 20_000);
      expect(await onReplica(db)).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('never uses a server that is not a standby', async () => {
    // The primary given as its own replica: reads it would serve are not "replica" reads.
    const db = createPostgresDatabase({
      url: primary.url,
      replicas: [primary.url.replace('127.0.0.1', 'localhost')],
      replicaCheckIntervalMs: 50,
      poolSize: 1,
    });
    try {
      await until(() => (db.replicas()[0]?.lastError ?? '').includes('not a standby'));
      expect(db.replicas()[0]?.usable).toBe(false);
    } finally {
      await db.close();
    }
  });

  it('refuses bad replica options and a bad position, naming them', () => {
    const url = 'postgres://postgres@127.0.0.1:1/x';
    expect(() => createPostgresDatabase({ url, replicas: 'postgres://a/b' as never })).toThrow(
      /replicas must be an array of postgres:\/\/ URLs/,
    );
    expect(() => createPostgresDatabase({ url, replicas: ['mysql://a/b'] })).toThrow(
      /replicas\[0\] must be a postgres:\/\/ or postgresql:\/\/ connection URL/,
    );
    expect(() => createPostgresDatabase({ url, replicas: [url, url] })).toThrow(
      /the same URL twice/,
    );
    expect(() => createPostgresDatabase({ url, maxReplicaLagMs: 0 })).toThrow(/maxReplicaLagMs/);
    expect(() => parseLsn('yesterday')).toThrow(/WAL position such as '0\/3001178'/);
    expect(parseLsn('1/0') > parseLsn('0/FFFFFFFF')).toBe(true);
  });
});
