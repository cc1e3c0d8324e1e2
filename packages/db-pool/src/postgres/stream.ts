import { checkOption } from '@fairmind/core';
import Cursor from 'pg-cursor';
import type { StreamOptions } from '../database/index.js';
import { OPTIONS_GOT } from '../errors/options.js';
import { compile, type SqlStatement } from '../sql/index.js';
import type { PostgresContext } from './scope.js';
import { atLeast } from './settings.js';

/**
 * `Database.stream`: the rows of a server-side cursor, `batchSize` per round trip, on the
 * scope's connection or on one held until the loop ends.
 */
export async function* streamRows<R extends object>(
  { pool, storage, statements }: PostgresContext,
  statement: SqlStatement,
  streamOptions: StreamOptions,
): AsyncGenerator<R> {
  const batchSize = checkOption(
    OPTIONS_GOT,
    'batchSize',
    streamOptions.batchSize ?? 100,
    atLeast(1),
  );
  const { text, values } = compile(statement, 'postgres');
  const scope = storage.getStore();
  const connection = scope?.connection ?? (await pool.acquire());
  const cursor = connection.client.query(new Cursor<R>(text, values));
  try {
    for (;;) {
      let rows: R[];
      try {
        rows = await cursor.read(batchSize);
      } catch (error) {
        throw statements.fail(connection, error);
      }
      if (rows.length === 0) break;
      for (const row of rows) yield row;
    }
  } finally {
    await cursor.close().catch(() => {
      connection.broken = true;
    });
    if (!scope) pool.release(connection);
  }
}
