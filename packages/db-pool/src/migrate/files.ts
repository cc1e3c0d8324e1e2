import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Driver } from '../database/index.js';
import { invalidUse } from '../errors/options.js';
import { describe, migrationError } from './errors.js';
import type { MigrationFile } from './index.js';

/** A migration file with its text, as read once (the checksum is of this very text). */
export interface LoadedMigration extends MigrationFile {
  readonly text: string;
}

/** A `.sql` file of the directory, named well, before the files of one driver are chosen. */
interface Candidate {
  version: number;
  name: string;
  file: string;
  variant: Driver | undefined;
}

const FILE_PATTERN = /^(\d+)_([^.]+?)(?:\.(pg|sqlite))?\.sql$/;
const NO_TRANSACTION = /^--\s*fairmind:no-transaction\s*$/;
const DRIVERS: readonly Driver[] = ['postgres', 'sqlite'];
const VARIANT: Readonly<Record<'pg' | 'sqlite', Driver>> = { pg: 'postgres', sqlite: 'sqlite' };

/**
 * The checksum of a migration's text: SHA-256 hex of the text with CRLF and CR normalised to
 * LF, so a checkout with other line endings (git autocrlf on Windows) is not a change.
 */
function checksumOf(text: string): string {
  return createHash('sha256').update(text.replace(/\r\n?/g, '\n'), 'utf8').digest('hex');
}

/** The migrations of `dir` for `driver`, with their texts, in numeric order (see `loadMigrations`). */
export async function loadMigrationTexts(dir: string, driver: Driver): Promise<LoadedMigration[]> {
  if (!DRIVERS.includes(driver)) {
    throw invalidUse(
      `unknown driver ${JSON.stringify(driver)}: pass 'postgres' or 'sqlite' (db.driver)`,
    );
  }
  const candidates: Candidate[] = [];
  for (const file of (await listDirectory(dir)).sort()) {
    if (!file.toLowerCase().endsWith('.sql')) continue;
    candidates.push(parseFileName(dir, file));
  }
  const files = chooseForDriver(dir, candidates, driver).sort((a, b) => a.version - b.version);
  return Promise.all(files.map((candidate) => readMigration(dir, candidate)));
}

async function listDirectory(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    throw migrationError(
      'MIGRATION_DIR_NOT_FOUND',
      `cannot read the migrations directory ${dir} (${describe(error)}): create it or pass ` +
        'the right dir (--dir for fairmind-migrate)',
      error,
    );
  }
}

/** The version, name and dialect of a `.sql` file, or `MIGRATION_INVALID` naming it. */
function parseFileName(dir: string, file: string): Candidate {
  const match = FILE_PATTERN.exec(file);
  const digits = match?.[1];
  const name = match?.[2];
  if (!match || digits === undefined || name === undefined) {
    throw migrationError(
      'MIGRATION_INVALID',
      `${join(dir, file)} is not named NNN_name.sql (or NNN_name.pg.sql / NNN_name.sqlite.sql): ` +
        'rename it, or move it out of the migrations directory',
    );
  }
  const version = Number(digits);
  if (!Number.isSafeInteger(version)) {
    throw migrationError(
      'MIGRATION_INVALID',
      `${join(dir, file)} has a version above ${Number.MAX_SAFE_INTEGER}: use a shorter number`,
    );
  }
  const variant = match[3] === 'pg' || match[3] === 'sqlite' ? VARIANT[match[3]] : undefined;
  return { version, name, file, variant };
}

/**
 * One file per version for `driver`. Conflicts are checked for both drivers, so a clash that
 * only SQLite would see still fails on PostgreSQL, and the other way round: the same
 * directory must serve both.
 */
function chooseForDriver(
  dir: string,
  candidates: readonly Candidate[],
  driver: Driver,
): Candidate[] {
  let chosen: Candidate[] = [];
  for (const forDriver of DRIVERS) {
    const byVersion = byVersionFor(dir, candidates, forDriver);
    if (forDriver === driver) chosen = [...byVersion.values()];
  }
  return chosen;
}

function byVersionFor(
  dir: string,
  candidates: readonly Candidate[],
  forDriver: Driver,
): Map<number, Candidate> {
  const byVersion = new Map<number, Candidate>();
  for (const candidate of candidates) {
    if (candidate.variant !== undefined && candidate.variant !== forDriver) continue;
    const other = byVersion.get(candidate.version);
    if (other === undefined) {
      byVersion.set(candidate.version, candidate);
      continue;
    }
    // A variant replaces the plain file of the same name; anything else is a clash.
    const [plain, variant] = other.variant === undefined ? [other, candidate] : [candidate, other];
    if (
      plain.variant === undefined &&
      variant.variant !== undefined &&
      plain.name === variant.name
    ) {
      byVersion.set(candidate.version, variant);
      continue;
    }
    throw migrationError(
      'MIGRATION_CONFLICT',
      `${join(dir, other.file)} and ${join(dir, candidate.file)} both have version ` +
        `${candidate.version} for ${forDriver}: give one of them a new number (a dialect ` +
        'variant must keep the name of the plain file, as in 001_init.sql and 001_init.pg.sql)',
    );
  }
  return byVersion;
}

async function readMigration(
  dir: string,
  { version, name, file }: Candidate,
): Promise<LoadedMigration> {
  let text = await readFile(join(dir, file), 'utf8');
  // An editor's byte-order mark would hide the directive and is not SQL.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const firstLine = text.split(/\r\n|\r|\n/, 1)[0] ?? '';
  return {
    version,
    name,
    file,
    checksum: checksumOf(text),
    transactional: !NO_TRANSACTION.test(firstLine.trim()),
    text,
  };
}
