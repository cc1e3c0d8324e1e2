import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));

interface Alias {
  find: RegExp;
  replacement: string;
}

interface Manifest {
  name?: string;
  exports?: Record<string, unknown>;
}

/**
 * Tests run against the TypeScript sources of the workspace packages rather than their
 * `dist/`, so `vitest` works without a build. Each `exports` subpath `./x` maps to
 * `src/x/index.ts`, and `.` to `src/index.ts`; the build keeps the same layout.
 */
function workspaceAliases(): Alias[] {
  const aliases: Alias[] = [];
  const dir = join(root, 'packages');
  for (const name of readdirSync(dir)) {
    let manifest: Manifest;
    try {
      manifest = JSON.parse(readFileSync(join(dir, name, 'package.json'), 'utf8')) as Manifest;
    } catch {
      continue;
    }
    if (!manifest.name || !manifest.exports || name === 'testing') continue;
    for (const subpath of Object.keys(manifest.exports)) {
      if (subpath === './package.json') continue;
      const target =
        subpath === '.'
          ? join(dir, name, 'src/index.ts')
          : join(dir, name, 'src', subpath.slice(2), 'index.ts');
      const find = subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`;
      aliases.push({ find: new RegExp(`^${find.replace(/[/.]/g, '\\$&')}$`), replacement: target });
    }
  }
  return aliases;
}

export const sharedAliases = workspaceAliases();
export const repoRoot = resolve(root);
