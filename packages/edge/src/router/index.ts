import { invalidOptions } from '@fairmind/core';
import { PKG } from '../options/index.js';

/** Path parameters of a matched route, by name. */
export type RouteParams = Readonly<Record<string, string>>;

interface Compiled<T> {
  readonly method: string;
  readonly segments: readonly string[];
  readonly route: T;
}

/** What {@link Router.match} finds: the route and its parameters, the methods the path allows, or nothing. */
export type RouteMatch<T> =
  | { readonly kind: 'found'; readonly route: T; readonly params: RouteParams }
  | { readonly kind: 'method-not-allowed'; readonly allow: readonly string[] }
  | { readonly kind: 'not-found' };

// Ids in paths are opaque but bounded: a segment longer than this cannot name anything the
// platform created, and refusing it early keeps absurd input out of the database.
const MAX_SEGMENT = 128;

// Matches of a path without parameters kept, one per method and path; past this the memo
// starts again. Paths with parameters are not kept: their values are the client's to vary.
const FIXED_MATCHES = 1_024;
const NO_PARAMS: RouteParams = Object.freeze({});

/**
 * A small method + path router for contract handlers: exact segments and `:name` parameters,
 * matched segment by segment. A route table of a few dozen routes (the platform's, the auth
 * router's) is scanned linearly over pre-split patterns, which is simpler than a radix tree;
 * a router library would bring its own conventions into every adapter. The scan splits the
 * path and compares it with each pattern in turn (3 µs a request on the platform's table, in
 * example-fastify's profile), so the match of a path without parameters is kept, frozen, and
 * answered again from a map.
 *
 * @example
 * ```ts
 * const router = new Router<string>().add('GET', '/notes/:id', 'note');
 * router.match('GET', '/notes/42'); // { kind: 'found', route: 'note', params: { id: '42' } }
 * ```
 */
export class Router<T> {
  readonly #routes: Compiled<T>[] = [];
  readonly #fixed = new Map<string, RouteMatch<T>>();

  /** Adds a route: `pattern` starts with `/`; a `:name` segment captures one decoded segment. */
  add(method: string, pattern: string, route: T): this {
    if (!pattern.startsWith('/')) {
      throw invalidOptions(PKG, `route "${pattern}" must start with /`);
    }
    this.#routes.push({
      method: method.toUpperCase(),
      segments: pattern.split('/').slice(1),
      route,
    });
    this.#fixed.clear();
    return this;
  }

  /** The route for a method and path (`HEAD` matches `GET`; a trailing slash is ignored). */
  match(method: string, path: string): RouteMatch<T> {
    const key = `${method} ${path}`;
    const known = this.#fixed.get(key);
    if (known !== undefined) return known;
    const found = this.#scan(method, path);
    if (found.kind === 'found' && Object.keys(found.params).length === 0) {
      if (this.#fixed.size >= FIXED_MATCHES) this.#fixed.clear();
      const fixed = Object.freeze({
        kind: 'found' as const,
        route: found.route,
        params: NO_PARAMS,
      });
      this.#fixed.set(key, fixed);
      return fixed;
    }
    return found;
  }

  #scan(method: string, path: string): RouteMatch<T> {
    const segments = path.split('/').slice(1);
    // A trailing slash names the same resource.
    if (segments.length > 1 && segments[segments.length - 1] === '') segments.pop();
    const allow: string[] = [];
    for (const candidate of this.#routes) {
      const params = matchSegments(candidate.segments, segments);
      if (params === undefined) continue;
      const wanted = method === 'HEAD' ? 'GET' : method;
      if (candidate.method === wanted) return { kind: 'found', route: candidate.route, params };
      if (!allow.includes(candidate.method)) allow.push(candidate.method);
    }
    return allow.length > 0 ? { kind: 'method-not-allowed', allow } : { kind: 'not-found' };
  }
}

function matchSegments(
  pattern: readonly string[],
  path: readonly string[],
): RouteParams | undefined {
  if (pattern.length !== path.length) return undefined;
  let params: Record<string, string> | undefined;
  for (let index = 0; index < pattern.length; index++) {
    const expected = pattern[index] as string;
    const actual = path[index] as string;
    if (expected.startsWith(':')) {
      if (actual === '' || actual.length > MAX_SEGMENT) return undefined;
      let value: string;
      try {
        value = decodeURIComponent(actual);
      } catch {
        return undefined;
      }
      params ??= {};
      params[expected.slice(1)] = value;
    } else if (expected !== actual) {
      return undefined;
    }
  }
  return params ?? {};
}
