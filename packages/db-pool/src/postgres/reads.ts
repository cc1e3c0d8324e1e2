import type { Queryable, Reader } from '../database/index.js';
import type { ConnectionPool, ConnectionPoolSettings } from '../pool/index.js';
import {
  createReplicaSet,
  parseLsn,
  type ReplicaMember,
  type ReplicaSet,
  replicaUnavailable,
} from '../replicas/index.js';
import { type SqlStatement, sql } from '../sql/index.js';
import { borrow, bound, type PostgresContext, withConnection } from './scope.js';
import type { PostgresSettings } from './settings.js';

/** The reads of {@link Queryable} on one context. */
export function readerOn(context: PostgresContext): Reader {
  return {
    query: <R extends object>(statement: SqlStatement) =>
      borrow(context, (connection) => context.statements.execute<R>(connection, statement)),
    one: <R extends object>(statement: SqlStatement) =>
      borrow(context, (connection) => bound(context, connection).one<R>(statement)),
    maybeOne: <R extends object>(statement: SqlStatement) =>
      borrow(context, (connection) => bound(context, connection).maybeOne<R>(statement)),
    many: <R extends object>(statement: SqlStatement) =>
      borrow(context, (connection) => bound(context, connection).many<R>(statement)),
  };
}

/** The replicas of one database: their checks, and a context and reader for each. */
export interface Replicas {
  readonly set: ReplicaSet;
  readonly contexts: Map<ReplicaMember, { context: PostgresContext; reader: Reader }>;
}

/**
 * The replicas' pools, each with the primary's settings but its acquire and connect bounded
 * at 1 s: a read on a replica that cannot be reached falls back to the primary rather than
 * wait the primary's whole deadline.
 */
export function openReplicas(
  settings: PostgresSettings,
  primary: ConnectionPool,
  open: (poolSettings: ConnectionPoolSettings, name: string) => PostgresContext,
): Replicas | undefined {
  const { urls, maxLagMs, checkIntervalMs } = settings.replicas;
  if (urls.length === 0) return undefined;
  const opened = urls.map((url, index) =>
    open(
      {
        ...settings.pool,
        connectionString: url,
        timeoutMs: Math.min(settings.pool.timeoutMs, 1_000),
        connectTimeoutMs: Math.min(settings.pool.connectTimeoutMs, 1_000),
      },
      `${settings.name}-replica-${index + 1}`,
    ),
  );
  const set = createReplicaSet({
    primary,
    members: urls.map((url, index) => ({
      name: hostOf(url),
      pool: (opened[index] as PostgresContext).pool,
    })),
    maxLagMs,
    checkIntervalMs,
    logger: settings.pool.logger,
    registry: settings.registry,
    poolName: settings.name,
  });
  const contexts = new Map<ReplicaMember, { context: PostgresContext; reader: Reader }>();
  for (const [index, member] of set.members.entries()) {
    const context = opened[index] as PostgresContext;
    contexts.set(member, { context, reader: readerOn(context) });
  }
  return { set, contexts };
}

/** `host:port` of a URL, without its credentials, to name a replica in logs and metrics. */
function hostOf(url: string): string {
  try {
    const { hostname, port } = new URL(url);
    return `${hostname}:${port || '5432'}`;
  } catch {
    return 'replica';
  }
}

const BEHIND = Symbol('behind');
const REPLAYED = sql`select pg_last_wal_replay_lsn()::text as lsn`;

/**
 * Each read on a replica that has what `after` asks for, else on the primary. When the last
 * check saw no replica that far, one usable replica is asked at once, on the connection the
 * read then uses: a replica on a fast network is usually a millisecond behind, so a read that
 * must see a write made just now still lands on it, at the cost of one short query there.
 */
export function routedReader(
  { set, contexts }: Replicas,
  primary: Reader,
  after: string | null | undefined,
): Reader {
  const position = after === undefined || after === null ? null : parseLsn(after);
  const onCaughtUp = <T>(
    member: ReplicaMember,
    context: PostgresContext,
    wanted: bigint,
    read: (reader: Queryable) => Promise<T>,
  ) =>
    withConnection(context, async (connection): Promise<T | typeof BEHIND> => {
      const { lsn } = await connection.one<{ lsn: string | null }>(REPLAYED);
      const replayed = lsn === null ? null : parseLsn(lsn);
      if (replayed === null || replayed < wanted) return BEHIND;
      if (member.replayed === null || replayed > member.replayed) member.replayed = replayed;
      return read(connection);
    });
  const route =
    <A extends unknown[], T>(pick: (reader: Reader) => (...args: A) => Promise<T>) =>
    async (...args: A): Promise<T> => {
      const known = set.pick(position);
      const member = known ?? (position === null ? undefined : set.pick(null));
      const entry = member && contexts.get(member);
      if (!member || !entry) {
        set.counted(undefined);
        return pick(primary)(...args);
      }
      try {
        const result =
          known || position === null
            ? await pick(entry.reader)(...args)
            : await onCaughtUp(member, entry.context, position, (reader) => pick(reader)(...args));
        if (result !== BEHIND) {
          set.counted(member);
          return result;
        }
      } catch (error) {
        if (!replicaUnavailable(error)) throw error;
        set.fail(member, error);
      }
      set.counted(undefined);
      return pick(primary)(...args);
    };
  return {
    query: route((reader) => reader.query) as Reader['query'],
    one: route((reader) => reader.one) as Reader['one'],
    maybeOne: route((reader) => reader.maybeOne) as Reader['maybeOne'],
    many: route((reader) => reader.many) as Reader['many'],
  };
}
