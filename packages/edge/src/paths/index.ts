import { optionError } from '../options/index.js';

/**
 * Path patterns as the middleware options take them: `*` (every path), `/api/*` (`/api`
 * and everything under it), `/health*` (any path starting with `/health`), or an exact path.
 */
export type PathMatcher = (path: string) => boolean;

/**
 * Compiles patterns once into one predicate.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` for a pattern that does not start with `/` (or is not `*`).
 * @example
 * ```ts
 * const matches = compilePaths('rateLimit', 'paths', ['/auth/*', '/api/*']);
 * matches('/api/v1/models'); // true
 * matches('/health/live'); // false
 * ```
 */
export function compilePaths(
  factory: string,
  option: string,
  patterns: readonly string[],
): PathMatcher {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const trees: string[] = [];
  for (const pattern of patterns) {
    if (pattern === '*') return () => true;
    if (!pattern.startsWith('/')) {
      throw optionError(
        factory,
        `${option} entries must be '*' or start with '/', such as '/api/*', got ${JSON.stringify(pattern)}.`,
      );
    }
    if (pattern.endsWith('/*')) trees.push(pattern.slice(0, -2));
    else if (pattern.endsWith('*')) prefixes.push(pattern.slice(0, -1));
    else exact.add(pattern);
  }
  return (path) => {
    if (exact.has(path)) return true;
    for (const tree of trees) {
      if (path.startsWith(tree) && (path.length === tree.length || path[tree.length] === '/')) {
        return true;
      }
    }
    for (const prefix of prefixes) if (path.startsWith(prefix)) return true;
    return false;
  };
}
