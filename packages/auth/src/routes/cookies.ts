// Cookie sessions: the refresh token in an HttpOnly cookie, and the CSRF defence every request
// authenticated by that cookie needs, since a browser attaches it to cross-site requests too.
import { createHash, timingSafeEqual } from 'node:crypto';
import { type Exchange, FairmindError, type HeaderRecord } from '@fairmind/core';
import { parseCookie, stringifySetCookie } from 'cookie';
import { invalid } from '../errors/index.js';

/** Options of the cookie mode of `authRoutes()`. */
export interface CookieSessionOptions {
  /**
   * The refresh cookie's name.
   * @default '__Secure-fairmind_refresh' when `secure`, else 'fairmind_refresh'
   */
  name?: string | undefined;
  /**
   * The path the refresh cookie is sent to: only the refresh route needs it.
   * @default `${prefix}/refresh`
   */
  path?: string | undefined;
  /**
   * `SameSite`: `strict` keeps the cookie off every cross-site request.
   * @default 'strict'
   */
  sameSite?: 'strict' | 'lax' | 'none' | undefined;
  /**
   * `Secure`: the cookie only travels over HTTPS (browsers treat http://localhost as secure).
   * @default true
   */
  secure?: boolean | undefined;
  /**
   * `Domain`, to share the cookie with subdomains; none keeps it to this host.
   * @default undefined
   */
  domain?: string | undefined;
  /**
   * Origins (`https://app.example.com`) besides this server's own that may send
   * cookie-authenticated requests: a front end on another origin.
   * @default []
   */
  trustedOrigins?: readonly string[] | undefined;
  /**
   * The header that must carry the `csrfToken` login and refresh answered, for clients that
   * send neither `Origin` nor `Sec-Fetch-Site`.
   * @default 'x-csrf-token'
   */
  csrfHeader?: string | undefined;
}

/** The cookie mode, checked once. */
export interface CookieSession {
  /** The refresh token the request's cookie carries, CSRF-checked; `undefined` without one. */
  refreshTokenOf(exchange: Exchange): string | undefined;
  /** The `Set-Cookie` that stores a new refresh token, and the CSRF token that goes with it. */
  store(refreshToken: string): { headers: HeaderRecord; csrfToken: string };
  /** The `Set-Cookie` that clears the refresh cookie. */
  clear(): HeaderRecord;
}

const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function cookieName(value: string | undefined, fallback: string, option: string): string {
  const name = value ?? fallback;
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) {
    throw invalid(option, "must be a cookie name (letters, digits and !#$%&'*+.^_`|~-)");
  }
  return name;
}

function originsOf(list: readonly string[] | undefined): ReadonlySet<string> {
  if (list !== undefined && !Array.isArray(list)) {
    throw invalid('cookies.trustedOrigins', 'must be an array of origins');
  }
  return new Set(
    (list ?? []).map((origin) => {
      try {
        return new URL(origin).origin;
      } catch {
        throw invalid('cookies.trustedOrigins', `holds ${JSON.stringify(origin)}, not an origin`);
      }
    }),
  );
}

// The JWT's `exp`, so the cookie expires with the token it holds.
function expiryOf(token: string): Date | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString());
    return typeof payload.exp === 'number' ? new Date(payload.exp * 1000) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The CSRF token of a refresh token: a digest only its holder can compute. The cookie is
 * HttpOnly and a cross-site page cannot read the JSON that login and refresh answer, so a
 * forged request cannot carry it; a stateless token works on every instance.
 */
function csrfTokenOf(refreshToken: string): string {
  return createHash('sha256').update(`csrf:${refreshToken}`).digest('base64url');
}

function forbidden(reason: string): FairmindError {
  return new FairmindError(
    'FORBIDDEN',
    403,
    `A request authenticated by the session cookie must come from this site: ${reason}.`,
  );
}

/** Builds the cookie mode of an auth router mounted at `prefix`. */
export function createCookieSession(options: CookieSessionOptions, prefix: string): CookieSession {
  if (typeof options !== 'object' || options === null) {
    throw invalid('cookies', 'must be an options object, true or false');
  }
  const secure = options.secure ?? true;
  const sameSite = options.sameSite ?? 'strict';
  if (!['strict', 'lax', 'none'].includes(sameSite)) {
    throw invalid('cookies.sameSite', "must be 'strict', 'lax' or 'none'");
  }
  if (sameSite === 'none' && !secure) throw invalid('cookies.sameSite', "'none' needs secure");
  const name = cookieName(
    options.name,
    secure ? '__Secure-fairmind_refresh' : 'fairmind_refresh',
    'cookies.name',
  );
  const csrfHeader = cookieName(options.csrfHeader, 'x-csrf-token', 'cookies.csrfHeader');
  const path = options.path ?? `${prefix}/refresh`;
  const trusted = originsOf(options.trustedOrigins);
  const common = { secure, sameSite, ...(options.domain ? { domain: options.domain } : {}) };

  // The request's own origin, as the browser would name it.
  function ownOrigin(exchange: Exchange): string | undefined {
    const host = exchange.request.headers.get('host');
    return host === null ? undefined : `${exchange.secure ? 'https' : 'http'}://${host}`;
  }

  // Origin first (every browser sends it on a cross-origin POST), then Sec-Fetch-Site, then
  // the CSRF token; on every content type, since a text/plain POST can carry JSON.
  function checkCsrf(exchange: Exchange, refreshToken: string): void {
    const { headers } = exchange.request;
    const origin = headers.get('origin');
    if (origin !== null) {
      if (origin === ownOrigin(exchange) || trusted.has(origin)) return;
      throw forbidden(`Origin ${origin.slice(0, 200)} is not trusted`);
    }
    const site = headers.get('sec-fetch-site');
    if (site !== null) {
      if (site === 'same-origin' || site === 'none') return;
      throw forbidden(`Sec-Fetch-Site is ${site.slice(0, 50)}`);
    }
    const expected = csrfTokenOf(refreshToken);
    const given = headers.get(csrfHeader);
    if (
      given !== null &&
      expected.length === given.length &&
      timingSafeEqual(Buffer.from(expected), Buffer.from(given))
    ) {
      return;
    }
    throw forbidden(`send the csrfToken of the last login or refresh in ${csrfHeader}`);
  }

  return {
    refreshTokenOf(exchange) {
      const token = parseCookie(exchange.request.headers.get('cookie') ?? '')[name];
      if (token === undefined || token === '') return undefined;
      checkCsrf(exchange, token);
      return token;
    },
    store(refreshToken) {
      const expires = expiryOf(refreshToken);
      const cookie = stringifySetCookie({
        name,
        value: refreshToken,
        path,
        httpOnly: true,
        ...common,
        ...(expires ? { expires } : {}),
      });
      return { headers: { 'set-cookie': cookie }, csrfToken: csrfTokenOf(refreshToken) };
    },
    clear() {
      const gone = { expires: new Date(0), httpOnly: true, ...common };
      return { 'set-cookie': stringifySetCookie({ name, value: '', path, ...gone }) };
    },
  };
}
