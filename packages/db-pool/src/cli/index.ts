#!/usr/bin/env node
import { parseArgs } from 'node:util';
import type { Logger } from '@fairmind/core';
import { createDatabase } from '../index.js';
import {
  type MigrateOptions,
  type MigrationFile,
  type MigrationStatusEntry,
  migrate,
  migrationStatus,
  planMigrations,
} from '../migrate/index.js';

/**
 * `fairmind-migrate <up|status|plan> [--dir <path>] [--table <name>]`: applies, lists or
 * previews the migrations of a directory against `DATABASE_URL` (SQLite when unset). Exit
 * codes: 0 success, 1 failure (the error's message, no stack), 2 bad usage.
 */

const USAGE = `Usage: fairmind-migrate <command> [options]

Commands:
  up       apply the pending migrations, in numeric order
  status   list every migration: applied, pending, changed or missing
  plan     list what "up" would apply, changing nothing

Options:
  --dir <path>     directory of NNN_name.sql files (default: ./migrations)
  --table <name>   table recording applied migrations (default: schema_migrations)
  -h, --help       show this help

Environment:
  DATABASE_URL     postgres://... or sqlite:<path>; unset means the SQLite default
`;

const COMMANDS = ['up', 'status', 'plan'] as const;
type Command = (typeof COMMANDS)[number];

interface Invocation {
  command: Command;
  dir: string;
  table: string | undefined;
}

class UsageError extends Error {}

function parse(argv: string[]): Invocation | 'help' {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (error) {
    // parseArgs explains unknown options and missing values well; keep its sentence.
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help === true) return 'help';
  const [command, ...extra] = positionals;
  if (command === undefined) throw new UsageError('a command is required: up, status or plan');
  if (!isCommand(command)) {
    throw new UsageError(`unknown command ${JSON.stringify(command)}: use up, status or plan`);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  if (values.dir === '') throw new UsageError('--dir needs a path');
  if (values.table === '') throw new UsageError('--table needs a name');
  return { command, dir: values.dir ?? './migrations', table: values.table };
}

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      dir: { type: 'string' },
      table: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function isCommand(value: string): value is Command {
  return (COMMANDS as readonly string[]).includes(value);
}

/** Pads columns to a plain-text table; the last column is not padded. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) =>
        column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

function planTable(files: readonly MigrationFile[]): string {
  return table(
    ['VERSION', 'NAME', 'TRANSACTION', 'FILE'],
    files.map((file) => [
      String(file.version),
      file.name,
      file.transactional ? 'yes' : 'no',
      file.file,
    ]),
  );
}

function statusTable(entries: readonly MigrationStatusEntry[]): string {
  return table(
    ['VERSION', 'NAME', 'STATE', 'APPLIED AT'],
    entries.map((entry) => [
      String(entry.version),
      entry.name,
      entry.state,
      entry.appliedAt ?? '-',
    ]),
  );
}

/** Prints each applied file as it goes, so a later failure still shows what was done. */
function progressLogger(write: (text: string) => void): Logger {
  const logger: Logger = {
    error() {},
    warn(_obj, msg) {
      if (msg !== undefined) process.stderr.write(`warning: ${stripPrefix(msg)}\n`);
    },
    info(obj, msg) {
      const fields = obj as { file?: unknown; durationMs?: unknown };
      if (typeof fields.file === 'string') {
        write(`applied ${fields.file} (${String(fields.durationMs)} ms)\n`);
      } else if (msg !== undefined) {
        write(`${stripPrefix(msg)}\n`);
      }
    },
    debug() {},
    child() {
      return logger;
    },
  };
  return logger;
}

function stripPrefix(message: string): string {
  return message.replace(/^\[@fairmind\/db-pool\] /, '');
}

async function run(invocation: Invocation): Promise<void> {
  const write = (text: string) => process.stdout.write(text);
  const url = process.env['DATABASE_URL'] || undefined;
  const db = createDatabase({ url });
  try {
    const options: MigrateOptions = { db, dir: invocation.dir, logger: progressLogger(write) };
    if (invocation.table !== undefined) options.table = invocation.table;
    switch (invocation.command) {
      case 'up': {
        const { applied } = await migrate(options);
        write(
          applied.length === 0
            ? 'Nothing to apply: the database is up to date.\n'
            : `Applied ${applied.length} migration${applied.length === 1 ? '' : 's'}.\n`,
        );
        return;
      }
      case 'plan': {
        const files = await planMigrations(options);
        if (files.length === 0) {
          write('Nothing to apply: the database is up to date.\n');
          return;
        }
        write(planTable(files));
        write(`${files.length} migration${files.length === 1 ? '' : 's'} would be applied.\n`);
        return;
      }
      case 'status': {
        const entries = await migrationStatus(options);
        if (entries.length === 0) {
          write(`No migrations in ${invocation.dir} and none recorded.\n`);
          return;
        }
        write(statusTable(entries));
        const counts = new Map<string, number>();
        for (const entry of entries) counts.set(entry.state, (counts.get(entry.state) ?? 0) + 1);
        write(`${[...counts].map(([state, count]) => `${count} ${state}`).join(', ')}\n`);
        return;
      }
    }
  } finally {
    await db.close();
  }
}

async function main(argv: string[]): Promise<number> {
  let invocation: Invocation | 'help';
  try {
    invocation = parse(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`fairmind-migrate: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (invocation === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    await run(invocation);
    return 0;
  } catch (error) {
    // The message says what went wrong and what to do; a stack would only bury it.
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`fairmind-migrate: ${stripPrefix(message)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The database is closed by now, so the process should end by itself; should a stray
    // handle keep it alive, do not hang a deploy script. Unref'd: never delays a clean exit.
    setTimeout(() => process.exit(code), 5_000).unref();
  },
  (error: unknown) => {
    process.stderr.write(`fairmind-migrate: ${error instanceof Error ? error.message : error}\n`);
    process.exit(1);
  },
);
