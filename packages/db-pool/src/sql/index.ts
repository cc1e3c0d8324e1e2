import { invalidUse } from '../errors/options.js';

/** Which placeholder syntax a statement compiles to. */
export type Dialect = 'postgres' | 'sqlite';

const IDENTIFIER = Symbol('fairmind.sql.identifier');
const RAW = Symbol('fairmind.sql.raw');

/** A quoted identifier, made by `sql.id()`: opaque, interpolated into a statement as is. */
export interface SqlIdentifier {
  readonly [IDENTIFIER]: readonly string[];
}

/** Trusted SQL text, made by `sql.raw()`: opaque, interpolated into a statement as is. */
export interface SqlRaw {
  readonly [RAW]: string;
}

/**
 * A SQL statement or fragment built with the {@link sql} tag. Interpolated values are never
 * spliced into the text: they become bound parameters when the statement is compiled for a
 * dialect (`$1` on PostgreSQL, `?` on SQLite). Fragments nest.
 */
export class SqlStatement {
  /** @internal */
  readonly strings: readonly string[];
  /** @internal */
  readonly values: readonly unknown[];

  /** @internal Use the {@link sql} tag. */
  constructor(strings: readonly string[], values: readonly unknown[]) {
    if (strings.length !== values.length + 1) {
      throw new TypeError('[@fairmind/db-pool] SqlStatement needs one more string than values');
    }
    this.strings = strings;
    this.values = values;
  }
}

/** A statement compiled for one dialect, ready for the driver. */
export interface CompiledStatement {
  readonly text: string;
  readonly values: unknown[];
}

function quoteIdentifier(part: string): string {
  return `"${part.replaceAll('"', '""')}"`;
}

function isIdentifier(value: unknown): value is SqlIdentifier {
  return typeof value === 'object' && value !== null && IDENTIFIER in value;
}

function isRaw(value: unknown): value is SqlRaw {
  return typeof value === 'object' && value !== null && RAW in value;
}

function append(
  out: { text: string; values: unknown[] },
  statement: SqlStatement,
  dialect: Dialect,
): void {
  const { strings, values } = statement;
  out.text += strings[0];
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    if (value instanceof SqlStatement) {
      append(out, value, dialect);
    } else if (isIdentifier(value)) {
      out.text += value[IDENTIFIER].map(quoteIdentifier).join('.');
    } else if (isRaw(value)) {
      out.text += value[RAW];
    } else {
      out.values.push(value);
      out.text += dialect === 'postgres' ? `$${out.values.length}` : '?';
    }
    out.text += strings[index + 1];
  }
}

// Compiled text by template: a tagged template's strings array is the same object on every
// call from one call site, so the text of a statement without nested fragments is built once
// per site and dialect instead of once per query.
const texts = new WeakMap<readonly string[], { postgres?: string; sqlite?: string }>();

function isFlat(values: readonly unknown[]): boolean {
  for (const value of values) {
    if (typeof value === 'object' && value !== null) {
      if (value instanceof SqlStatement || IDENTIFIER in value || RAW in value) return false;
    }
  }
  return true;
}

/**
 * Compiles a statement for a dialect: the text with numbered (`$n`) or positional (`?`)
 * placeholders, and the values in order.
 *
 * @example
 * ```ts
 * compile(sql`select * from users where id = ${7}`, 'postgres');
 * // { text: 'select * from users where id = $1', values: [7] }
 * ```
 */
export function compile(statement: SqlStatement, dialect: Dialect): CompiledStatement {
  if (isFlat(statement.values)) {
    let entry = texts.get(statement.strings);
    if (entry === undefined) {
      entry = {};
      texts.set(statement.strings, entry);
    }
    let text = entry[dialect];
    if (text === undefined) {
      const out = { text: '', values: [] as unknown[] };
      append(out, statement, dialect);
      text = out.text;
      entry[dialect] = text;
    }
    return { text, values: statement.values as unknown[] };
  }
  const out = { text: '', values: [] as unknown[] };
  append(out, statement, dialect);
  return out;
}

/** The type of {@link sql}: the tagged template and its helpers. */
export interface SqlTag {
  /**
   * Builds a statement whose interpolated values are bound parameters, never text.
   *
   * @example
   * ```ts
   * const user = await db.maybeOne(sql`select id, email from users where email = ${email}`);
   * ```
   */
  (strings: TemplateStringsArray, ...values: unknown[]): SqlStatement;
  /**
   * A quoted identifier (table or column), for names that cannot be parameters. Dotted
   * parts (`schema.table`) are given as separate arguments.
   *
   * @example
   * ```ts
   * sql`select * from ${sql.id('audit', 'events')}`; // select * from "audit"."events"
   * ```
   */
  id(...parts: string[]): SqlIdentifier;
  /**
   * A comma-separated list of bound values, for `IN (...)` and `VALUES (...)`. An empty list
   * is refused: `IN ()` is a syntax error on both databases.
   *
   * @example
   * ```ts
   * sql`select * from models where id in (${sql.list(ids)})`;
   * ```
   */
  list(values: readonly unknown[]): SqlStatement;
  /** Joins fragments with a separator fragment (default `, `). */
  join(parts: readonly SqlStatement[], separator?: SqlStatement): SqlStatement;
  /**
   * Text spliced in as is. Only for trusted constants (a sort direction chosen from a fixed
   * set, say); never for anything a client sent.
   */
  raw(text: string): SqlRaw;
  /** An empty fragment, for optional clauses. */
  readonly empty: SqlStatement;
}

function tag(strings: TemplateStringsArray, ...values: unknown[]): SqlStatement {
  // The strings array is kept as is (it is frozen): its identity keys the text cache.
  return new SqlStatement(strings, values);
}

const empty = new SqlStatement([''], []);

/** The tagged template for safe SQL; see {@link SqlTag}. */
export const sql: SqlTag = Object.assign(tag, {
  id(...parts: string[]): SqlIdentifier {
    if (parts.length === 0 || parts.some((part) => typeof part !== 'string' || part.length === 0)) {
      throw invalidUse('sql.id() needs one or more non-empty names');
    }
    return { [IDENTIFIER]: parts };
  },
  list(values: readonly unknown[]): SqlStatement {
    if (!Array.isArray(values) || values.length === 0) {
      throw invalidUse(
        'sql.list() needs at least one value: handle the empty case before building the query',
      );
    }
    return new SqlStatement(['', ...values.slice(1).map(() => ', '), ''], values);
  },
  join(
    parts: readonly SqlStatement[],
    separator: SqlStatement = new SqlStatement([', '], []),
  ): SqlStatement {
    if (parts.length === 0) return empty;
    const strings: string[] = [''];
    const values: unknown[] = [];
    parts.forEach((part, index) => {
      if (index > 0) {
        values.push(separator);
        strings.push('');
      }
      values.push(part);
      strings.push('');
    });
    return new SqlStatement(strings, values);
  },
  raw(text: string): SqlRaw {
    return { [RAW]: String(text) };
  },
  empty,
});
