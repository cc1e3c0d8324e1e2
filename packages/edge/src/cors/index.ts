import type { HeaderRecord, Middleware } from '@fairmind/core';
import {
  booleanOption,
  integerOption,
  optionError,
  optionsObject,
  shown,
  stringListOption,
} from '../options/index.js';
import { compileOrigins, isAllowedOrigin } from './origins.js';

/** Options of {@link cors}. */
export interface CorsOptions {
  /**
   * Origins allowed to read responses, in the `CORS_ORIGINS` forms: `*` (any origin),
   * `https://app.example.com` (exact; a default port may be written or not), or
   * `https://*.example.com` (any subdomain, not the bare domain). `config.cors.origins`
   * from `loadConfig()` fits as it is.
   */
  origins: readonly string[] | string;
  /**
   * Let browsers send cookies and `Authorization` cross-origin
   * (`Access-Control-Allow-Credentials: true`). Refused together with `*`: that would let
   * every site read every signed-in user's responses.
   * @default false
   */
  credentials?: boolean | undefined;
  /**
   * Methods a preflight may ask for.
   * @default ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE']
   */
  methods?: readonly string[] | undefined;
  /**
   * Request headers a preflight may ask for; by default whatever the preflight asks for is
   * allowed (the origin check is what protects), and `Vary` says so.
   * @default the preflight's Access-Control-Request-Headers
   */
  allowedHeaders?: readonly string[] | undefined;
  /**
   * Response headers scripts may read besides the CORS-safelisted ones.
   * @default ['X-Request-Id', 'RateLimit', 'RateLimit-Policy', 'Retry-After']
   */
  exposedHeaders?: readonly string[] | undefined;
  /**
   * Seconds a browser may cache a preflight answer (browsers cap it: Chromium at 7200).
   * @default 600
   */
  maxAge?: number | undefined;
}

const TOKEN = /^[!#$%&'*+.^`|~\w-]+$/;

/** The method and header lists of the options, checked to be HTTP tokens. */
function resolveHeaderLists(factory: string, opts: CorsOptions) {
  const methods = stringListOption(factory, 'methods', opts.methods, [
    'GET',
    'HEAD',
    'PUT',
    'PATCH',
    'POST',
    'DELETE',
  ]).map((method) => method.toUpperCase());
  const allowedHeaders =
    opts.allowedHeaders === undefined
      ? undefined
      : stringListOption(factory, 'allowedHeaders', opts.allowedHeaders, []);
  const exposed = stringListOption(factory, 'exposedHeaders', opts.exposedHeaders, [
    'X-Request-Id',
    'RateLimit',
    'RateLimit-Policy',
    'Retry-After',
  ]);
  for (const name of [...methods, ...(allowedHeaders ?? []), ...exposed]) {
    if (!TOKEN.test(name)) {
      throw optionError(factory, `${shown(name)} is not a valid method or header name.`);
    }
  }
  return { methods, allowedHeaders, exposed };
}

/**
 * CORS on the contract. Allowed origins get `Access-Control-Allow-Origin` (their own origin,
 * or `*` when every origin is allowed without credentials), credentials and exposed headers
 * as configured; every response says `Vary: Origin` unless the answer is the same for all.
 * A preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered at once with 204
 * and `Access-Control-Max-Age`, and never reaches a handler; from an origin not allowed it
 * gets no CORS headers, which is the browser's cue to block the request.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * const config = loadConfig();
 * const allowCors = cors({ origins: config.cors.origins, credentials: true });
 * ```
 */
export function cors(options: CorsOptions): Middleware {
  const factory = 'cors';
  const opts = optionsObject(factory, options);
  const origins = stringListOption(factory, 'origins', opts.origins, []);
  if (opts.origins === undefined) {
    throw optionError(
      factory,
      "origins is required: a list such as ['https://app.example.com'] or '*'.",
    );
  }
  const credentials = booleanOption(factory, 'credentials', opts.credentials, false);
  const allowed = compileOrigins(factory, origins);
  if (allowed.any && credentials) {
    throw optionError(
      factory,
      "origins '*' with credentials: true would let every website read signed-in users' " +
        'responses. List the origins that may send credentials instead.',
    );
  }
  const { methods, allowedHeaders, exposed } = resolveHeaderLists(factory, opts);
  const maxAge = integerOption(factory, {
    name: 'maxAge',
    value: opts.maxAge,
    fallback: 600,
    min: 0,
  });

  // With '*' and no credentials the answer is the same for every origin: no Vary needed.
  const shared = allowed.any && !credentials;
  const vary = shared ? undefined : 'Origin';
  const exposeValue = exposed.length > 0 ? exposed.join(', ') : undefined;
  const simpleForAll: HeaderRecord = Object.freeze({
    'access-control-allow-origin': '*',
    ...(exposeValue ? { 'access-control-expose-headers': exposeValue } : {}),
  });
  const varyOnly: HeaderRecord = Object.freeze({ vary: 'Origin' });
  const methodsValue = methods.join(', ');
  const preflightVary =
    allowedHeaders === undefined
      ? shared
        ? 'Access-Control-Request-Headers'
        : 'Origin, Access-Control-Request-Headers'
      : vary;

  return function corsMiddleware(exchange) {
    const { request } = exchange;
    const origin = request.headers.get('origin');
    const preflight =
      request.method === 'OPTIONS' && request.headers.get('access-control-request-method') !== null;
    if (!preflight) {
      if (origin === null) return shared ? { headers: simpleForAll } : { headers: varyOnly };
      if (shared) return { headers: simpleForAll };
      if (!isAllowedOrigin(allowed, origin)) return { headers: varyOnly };
      const headers: HeaderRecord = { vary: 'Origin', 'access-control-allow-origin': origin };
      if (credentials) headers['access-control-allow-credentials'] = 'true';
      if (exposeValue) headers['access-control-expose-headers'] = exposeValue;
      return { headers };
    }
    const headers: HeaderRecord = {};
    if (preflightVary) headers['vary'] = preflightVary;
    if (origin !== null && isAllowedOrigin(allowed, origin)) {
      headers['access-control-allow-origin'] = shared ? '*' : origin;
      if (credentials) headers['access-control-allow-credentials'] = 'true';
      headers['access-control-allow-methods'] = methodsValue;
      const asked = request.headers.get('access-control-request-headers');
      const allowHeaders = allowedHeaders === undefined ? asked : allowedHeaders.join(', ');
      if (allowHeaders) headers['access-control-allow-headers'] = allowHeaders;
      headers['access-control-max-age'] = String(maxAge);
    }
    return { reply: { status: 204, headers, body: null } };
  };
}
