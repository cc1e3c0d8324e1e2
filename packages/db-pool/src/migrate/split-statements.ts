// Written by hand: PostgreSQL has no client-side splitter in pg, and a file run outside a
// transaction must go statement by statement (CREATE INDEX CONCURRENTLY refuses a
// multi-statement string). Only what decides where a statement ends is understood.

/**
 * Splits a PostgreSQL script on top-level semicolons, skipping those inside quotes
 * (`'...'`, `E'...'`, `"..."`), dollar quotes (`$body$...$body$`) and comments. Pieces with
 * nothing but blanks and comments are dropped. `BEGIN ATOMIC ... END` function bodies are
 * not understood; keep them in transactional files.
 */
export function splitPostgresStatements(script: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let hasCode = false;
  let index = 0;
  const length = script.length;
  const push = (end: number) => {
    if (hasCode) statements.push(script.slice(start, end).trim());
    start = end + 1;
    hasCode = false;
  };
  while (index < length) {
    const char = script[index];
    const next = script[index + 1];
    if (char === '-' && next === '-') {
      const end = script.indexOf('\n', index);
      index = end === -1 ? length : end + 1;
      continue;
    }
    if (char === '/' && next === '*') {
      index = afterBlockComment(script, index);
      continue;
    }
    if (char === ';') {
      push(index);
      index++;
      continue;
    }
    if (char !== undefined && !/\s/.test(char)) hasCode = true;
    if (char === "'" || char === '"') {
      index = afterQuoted(script, index, char);
      continue;
    }
    if (char === '$' && !isWordChar(script[index - 1])) {
      const end = afterDollarQuoted(script, index);
      if (end !== undefined) {
        index = end;
        continue;
      }
    }
    index++;
  }
  push(length);
  return statements;
}

/** The index after the `/* ... *\/` comment starting at `index`; these comments nest. */
function afterBlockComment(script: string, index: number): number {
  let depth = 1;
  let at = index + 2;
  while (at < script.length && depth > 0) {
    if (script[at] === '/' && script[at + 1] === '*') {
      depth++;
      at += 2;
    } else if (script[at] === '*' && script[at + 1] === '/') {
      depth--;
      at += 2;
    } else {
      at++;
    }
  }
  return at;
}

/**
 * The index after the string or quoted identifier opened by `quote` at `index`: a doubled
 * quote stays inside, and so does a backslash escape in an `E'...'` string.
 */
function afterQuoted(script: string, index: number, quote: '"' | "'"): number {
  const previous = script[index - 1];
  const escapes =
    quote === "'" && (previous === 'E' || previous === 'e') && !isWordChar(script[index - 2]);
  let at = index + 1;
  while (at < script.length) {
    const current = script[at];
    if (escapes && current === '\\') {
      at += 2;
      continue;
    }
    if (current === quote) {
      if (script[at + 1] === quote) {
        at += 2;
        continue;
      }
      break;
    }
    at++;
  }
  return at + 1;
}

/** The index after the `$tag$...$tag$` body starting at `index`, if a tag starts there. */
function afterDollarQuoted(script: string, index: number): number | undefined {
  const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(index, index + 64));
  if (!tag) return undefined;
  const end = script.indexOf(tag[0], index + tag[0].length);
  return end === -1 ? script.length : end + tag[0].length;
}

function isWordChar(char: string | undefined): boolean {
  return char !== undefined && /[A-Za-z0-9_$]/.test(char);
}
