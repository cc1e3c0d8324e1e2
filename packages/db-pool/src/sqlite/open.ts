import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { FairmindError } from '@fairmind/core';
import { DatabaseError } from '../errors/index.js';
import { invalidUse } from '../errors/options.js';
import type { SqliteConnection, SqliteDriver } from './driver.js';
import { toDatabaseError } from './errors.js';
import type { Settings } from './settings.js';

type Connection = SqliteConnection;

/**
 * Opens the file (creating its directory) or the in-memory database, and sets WAL, the busy
 * timeout, foreign keys and synchronous=NORMAL.
 */
export function open(Driver: SqliteDriver, settings: Settings): Connection {
  if (!settings.memory) {
    try {
      mkdirSync(dirname(settings.path), { recursive: true });
    } catch (error) {
      throw invalidUse(
        `could not create the directory ${dirname(settings.path)} for the SQLite file: make it writable or point options.url elsewhere`,
        error,
      );
    }
  }
  let conn: Connection;
  try {
    conn = new Driver(settings.path, { timeout: settings.busyTimeoutMs });
  } catch (error) {
    const message = error instanceof Error ? error.message : '';
    if (
      /bindings|NODE_MODULE_VERSION|compiled against|invalid ELF|not a valid Win32/i.test(message)
    ) {
      throw new FairmindError(
        'DRIVER_MISSING',
        500,
        '[@fairmind/db-pool] better-sqlite3 is installed but its native module does not load in this Node.js: run `npm rebuild better-sqlite3` (or reinstall better-sqlite3@12)',
        { cause: error },
      );
    }
    const code = (error as { code?: unknown } | null)?.code;
    throw new DatabaseError(
      'other',
      `could not open the SQLite database ${settings.memory ? 'in memory' : `file ${settings.path}`}: check that it is a SQLite file and that its directory is writable`,
      { cause: error, sqlState: typeof code === 'string' ? code : undefined },
    );
  }
  try {
    // WAL lets readers in other processes (a migration CLI, a backup) work while this one
    // writes; NORMAL synchronous is durable in WAL except on power loss, at a fraction of the
    // fsyncs. An in-memory database has no journal file to put in WAL mode.
    let journalMode = 'memory';
    if (!settings.memory) {
      journalMode = String(conn.pragma('journal_mode = WAL', { simple: true }));
      if (journalMode.toLowerCase() !== 'wal') {
        settings.logger.warn(
          { path: settings.path, journalMode },
          '[@fairmind/db-pool] SQLite refused WAL mode (a network or read-only file system?); concurrent readers will block writers',
        );
      }
    }
    conn.pragma(`busy_timeout = ${settings.busyTimeoutMs}`);
    conn.pragma('foreign_keys = ON');
    conn.pragma('synchronous = NORMAL');
    settings.logger.info(
      { path: settings.memory ? ':memory:' : settings.path, journalMode },
      '[@fairmind/db-pool] SQLite database opened',
    );
  } catch (error) {
    conn.close();
    throw toDatabaseError(error);
  }
  return conn;
}
