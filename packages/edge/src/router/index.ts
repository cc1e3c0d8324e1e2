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

/**
 * A small method + path router for contract handlers: exact segments and `:name` parameters,
 * matched segment by segment. A route table of a few dozen routes (the platform's, the auth
 * router's) is scanned linearly over pre-split patterns, which is simpler than a radix tree
 * and costs well under a microsecond; a router library would bring its own conventions into
 * every adapter.
 *
 * @example
 * ```ts
 * const router = new Router<string>().add('GET', '/notes/:id', 'note');
 * router.match('GET', '/notes/42'); // { kind: 'found', route: 'note', params: { id: '42' } }
 * ```
 */
export class Router<T> {
  readonly #routes: Compiled<T>[] = [];

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
    return this;
  }

  /** The route for a method and path (`HEAD` matches `GET`; a trailing slash is ignored). */
  match(method: string, path: string): RouteMatch<T> {
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
