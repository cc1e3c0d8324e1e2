import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The migrations ship beside the build (dist/../migrations) and the sources (src/app/../../).
function migrationsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, '..', 'migrations'), join(here, '..', '..', 'migrations')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('[@fairmind/platform] the migrations folder is missing from the package');
}

/** The platform's own migrations (models, assessments), run after `@fairmind/auth`'s. */
export const platformMigrations = { dir: migrationsDir(), table: 'schema_migrations' } as const;
