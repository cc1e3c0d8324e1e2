import type { Logger } from '@fairmind/core';
import { counter, gauge } from '@fairmind/core/metrics';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { DatabaseError, PoolTimeoutError } from '../errors/index.js';
import { invalidUse } from '../errors/options.js';
import type { ConnectionPool } from '../pool/index.js';

/** How one replica stands, as `Database.replicas()` reports it. */
export interface ReplicaStatus {
  /** `host:port` of its URL (no credentials). */
  readonly name: string;
  /** Whether reads go to it now: it answered its last check and lags at most the limit. */
  readonly usable: boolean;
  /**
   * How far behind the primary it was at its last check, in milliseconds (to the resolution
   * of the check interval); `null` before the first check or while it does not answer.
   */
  readonly lagMs: number | null;
  /** The WAL position it had replayed at its last check (`pg_last_wal_replay_lsn()`). */
  readonly replayed: string | null;
  /** Why it is not usable, if it is not. */
  readonly lastError: string | null;
}

/** One replica: its pool, and what the last check found. */
export interface ReplicaMember {
  readonly name: string;
  readonly pool: ConnectionPool;
  usable: boolean;
  replayed: bigint | null;
  lagMs: number | null;
  lastError: string | null;
}

/** The replicas of one database, checked in the background. */
export interface ReplicaSet {
  readonly members: readonly ReplicaMember[];
  /**
   * A usable replica that has replayed at least `after` (round robin among them), or none:
   * the caller reads from the primary then.
   */
  pick(after: bigint | null): ReplicaMember | undefined;
  /** A read on `member` failed in a way that says the replica is gone: stop using it now. */
  fail(member: ReplicaMember, error: unknown): void;
  /** Counts a read, by where it ran. */
  counted(target: ReplicaMember | undefined): void;
  status(): ReplicaStatus[];
  /** Stops the checks and closes the replicas' pools. */
  close(): Promise<void>;
}

export interface ReplicaSetSettings {
  readonly primary: ConnectionPool;
  readonly members: readonly { name: string; pool: ConnectionPool }[];
  readonly maxLagMs: number;
  readonly checkIntervalMs: number;
  readonly logger: Logger;
  readonly registry: Registry | undefined;
  /** The `pool` label of the primary's metrics. */
  readonly poolName: string;
}

/** `X/Y` (two hex numbers) as one 64-bit number, so positions compare. */
export function parseLsn(text: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!match) {
    throw invalidUse(
      `read({ after }) takes a WAL position such as '0/3001178', as writePosition() returns it; got ${JSON.stringify(text)}`,
    );
  }
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

function formatLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** One statement on a connection of `pool`, both bounded by `timeoutMs`. */
async function probe<R extends object>(
  pool: ConnectionPool,
  text: string,
  timeoutMs: number,
): Promise<R> {
  const started = performance.now();
  const connection = await pool.acquire(timeoutMs);
  try {
    const remaining = Math.max(1, Math.round(timeoutMs - (performance.now() - started)));
    const result = await connection.client.query<R>({
      text,
      query_timeout: remaining,
    } as pg.QueryConfig);
    return result.rows[0] as R;
  } catch (error) {
    connection.broken = true;
    throw error;
  } finally {
    pool.release(connection);
  }
}

/**
 * Whether a failed read says the replica itself is gone or cannot serve it (so the primary
 * should answer instead): no connection, a lost one, or a query cancelled by a conflict with
 * recovery (SQLSTATE 40001 on a standby). A bad statement fails the same on the primary.
 */
export function replicaUnavailable(error: unknown): boolean {
  if (error instanceof PoolTimeoutError) return true;
  return (
    error instanceof DatabaseError &&
    (error.kind === 'connection_lost' ||
      (error.kind === 'serialization_failure' && error.sqlState === '40001'))
  );
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The replicas' background check, and the choice of a replica for each read. Written here
 * rather than taken from a library: pg has no notion of replicas, and the lag measure that
 * matters for read-your-writes is a WAL position, which only PostgreSQL's own functions give.
 *
 * Lag is measured without clocks: every check records the primary's `pg_current_wal_lsn()`
 * with the time it was read, then each replica's `pg_last_wal_replay_lsn()`. A replica that
 * has replayed the position the primary had at time T holds every write committed before T,
 * so its lag is now minus the newest such T. An idle primary gives lag 0, which the replay
 * timestamp (`now() - pg_last_xact_replay_timestamp()`) would not.
 */
export function createReplicaSet(settings: ReplicaSetSettings): ReplicaSet {
  const { primary, maxLagMs, checkIntervalMs, logger } = settings;
  const members: ReplicaMember[] = settings.members.map(({ name, pool }) => ({
    name,
    pool,
    usable: false,
    replayed: null,
    lagMs: null,
    lastError: 'not checked yet',
  }));
  const lag: LagRules = {
    samples: [],
    maxLagMs,
    checkIntervalMs,
    probeTimeoutMs: Math.max(200, Math.min(2_000, checkIntervalMs * 2)),
    logger,
  };
  const metrics = settings.registry
    ? replicaMetrics(settings.registry, settings.poolName, members)
    : undefined;
  let turn = 0;
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) return;
    running = checkAll(primary, members, lag).finally(() => {
      running = undefined;
    });
  };
  tick();
  const timer = setInterval(tick, checkIntervalMs);
  timer.unref();

  return {
    members,
    pick(after) {
      for (let tried = 0; tried < members.length; tried++) {
        const member = members[turn++ % members.length] as ReplicaMember;
        if (!member.usable) continue;
        if (after !== null && (member.replayed === null || member.replayed < after)) continue;
        return member;
      }
      return undefined;
    },
    fail(member, error) {
      setUsable(logger, member, false, `a read failed: ${message(error)}`);
    },
    counted(target) {
      metrics?.inc({ pool: settings.poolName, target: target?.name ?? 'primary' });
    },
    status: () =>
      members.map((member) => ({
        name: member.name,
        usable: member.usable,
        lagMs: member.lagMs,
        replayed: member.replayed === null ? null : formatLsn(member.replayed),
        lastError: member.lastError,
      })),
    async close() {
      clearInterval(timer);
      await running;
      await Promise.all(members.map((member) => member.pool.close()));
    },
  };
}

/** What the checks share: the primary's positions and the limits. */
interface LagRules {
  /** The primary's positions with the time each was read, oldest first. */
  readonly samples: { at: number; lsn: bigint }[];
  readonly maxLagMs: number;
  readonly checkIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly logger: Logger;
}

/** One round: the primary's position, then every replica's. */
async function checkAll(
  primary: ConnectionPool,
  members: readonly ReplicaMember[],
  rules: LagRules,
): Promise<void> {
  const { samples, maxLagMs, checkIntervalMs, probeTimeoutMs, logger } = rules;
  try {
    const row = await probe<{ lsn: string }>(
      primary,
      'select pg_current_wal_lsn()::text as lsn',
      probeTimeoutMs,
    );
    samples.push({ at: Date.now(), lsn: parseLsn(row.lsn) });
  } catch (error) {
    // Lag is measured up to the newest position known, so a primary that stops answering does
    // not make every replica look as if it fell behind.
    logger.debug({ err: error }, '[@fairmind/db-pool] replica check: no position from the primary');
  }
  const newest = samples.at(-1)?.at ?? Date.now();
  const keepMs = maxLagMs * 2 + checkIntervalMs * 4;
  while (samples.length > 1 && newest - (samples[0]?.at ?? newest) > keepMs) samples.shift();
  await Promise.all(members.map((member) => checkMember(member, rules)));
}

/** One replica: is it a standby, and how far behind the primary's positions is it? */
async function checkMember(member: ReplicaMember, rules: LagRules): Promise<void> {
  const { samples, maxLagMs, checkIntervalMs, probeTimeoutMs, logger } = rules;
  try {
    const row = await probe<{ recovery: boolean; lsn: string | null }>(
      member.pool,
      'select pg_is_in_recovery() as recovery, pg_last_wal_replay_lsn()::text as lsn',
      probeTimeoutMs,
    );
    if (!row.recovery || row.lsn === null) {
      member.lagMs = null;
      const why =
        'it is not a standby (promoted, or a primary given as a replica): it may miss writes made on the primary';
      setUsable(logger, member, false, why);
      return;
    }
    const replayed = parseLsn(row.lsn);
    member.replayed = replayed;
    const newest = samples.at(-1);
    if (newest === undefined) {
      member.lagMs = null;
      setUsable(
        logger,
        member,
        false,
        'the primary has not answered a check yet, so its lag is unknown',
      );
      return;
    }
    const caughtUp = samples.findLast((sample) => sample.lsn <= replayed);
    // Behind every position kept: at least as far behind as the oldest, plus a round.
    member.lagMs = caughtUp
      ? newest.at - caughtUp.at
      : newest.at - (samples[0] ?? newest).at + checkIntervalMs;
    if (member.lagMs > maxLagMs) {
      const why = `it lags ${member.lagMs} ms behind the primary (limit ${maxLagMs} ms)`;
      setUsable(logger, member, false, why);
    } else {
      setUsable(logger, member, true, null);
    }
  } catch (error) {
    member.lagMs = null;
    setUsable(logger, member, false, `its check failed: ${message(error)}`);
  }
}

/** Changes whether reads go to `member`, logging each change once. */
function setUsable(
  logger: Logger,
  member: ReplicaMember,
  usable: boolean,
  why: string | null,
): void {
  if (usable && !member.usable) {
    logger.info(
      { replica: member.name, lagMs: member.lagMs },
      `[@fairmind/db-pool] replica ${member.name} is in use for reads`,
    );
  } else if (!usable && member.usable) {
    logger.warn(
      { replica: member.name, lagMs: member.lagMs, reason: why },
      `[@fairmind/db-pool] replica ${member.name} is left out of reads until it answers and catches up: ${why ?? ''}`,
    );
  }
  member.usable = usable;
  member.lastError = usable ? null : why;
}

// The replica sets per registry, so one gauge reports every database that registered with it,
// read at scrape time.
const tracked = new WeakMap<Registry, Map<string, readonly ReplicaMember[]>>();

/**
 * `fairmind_db_replica_lag_seconds` and `fairmind_db_replica_usable` per replica, and the
 * counter `fairmind_db_reads_total{target}` that `read()` adds to.
 */
function replicaMetrics(registry: Registry, poolName: string, members: readonly ReplicaMember[]) {
  let sets = tracked.get(registry);
  if (!sets) {
    const map = new Map<string, readonly ReplicaMember[]>();
    sets = map;
    tracked.set(registry, map);
    const each = (visit: (pool: string, member: ReplicaMember) => void) => {
      for (const [pool, list] of map) for (const member of list) visit(pool, member);
    };
    gauge(registry, {
      name: 'fairmind_db_replica_lag_seconds',
      help: 'How far each read replica was behind the primary at its last check (-1: unknown).',
      labelNames: ['pool', 'replica'],
      collect() {
        each((pool, member) =>
          this.set(
            { pool, replica: member.name },
            member.lagMs === null ? -1 : member.lagMs / 1000,
          ),
        );
      },
    });
    gauge(registry, {
      name: 'fairmind_db_replica_usable',
      help: 'Whether reads go to each read replica (1) or it is left out (0).',
      labelNames: ['pool', 'replica'],
      collect() {
        each((pool, member) => this.set({ pool, replica: member.name }, member.usable ? 1 : 0));
      },
    });
  }
  sets.set(poolName, members);
  return counter(registry, {
    name: 'fairmind_db_reads_total',
    help: 'Reads made through read(), by where they ran: a replica, or the primary.',
    labelNames: ['pool', 'target'],
  });
}
