import { FairmindError, optionScopeError } from '@fairmind/core';
import { OPTIONS } from './options.js';

/** The prefix of every message and log line of this package. */
export const PREFIX = '[@fairmind/auth]';

/**
 * RFC 6750 section 3: a 401 for a bearer-protected resource names the scheme, so clients know
 * how to authenticate; HTTP-API.md asks for exactly `Bearer`.
 */
const CHALLENGE = { 'WWW-Authenticate': 'Bearer' } as const;

/** The token (or API key) is malformed, wrongly signed, of the wrong type or otherwise unusable. */
export function tokenInvalid(reason: string, cause?: unknown): FairmindError {
  return new FairmindError('TOKEN_INVALID', 401, `${PREFIX} ${reason}: sign in again`, {
    headers: CHALLENGE,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The token (or API key) was valid once and has expired. */
export function tokenExpired(what = 'the token'): FairmindError {
  return new FairmindError(
    'TOKEN_EXPIRED',
    401,
    `${PREFIX} ${what} has expired: refresh it or sign in again`,
    { headers: CHALLENGE },
  );
}

/** The token (or API key) was revoked: logout, "log out everywhere", reuse detection. */
export function tokenRevoked(what = 'the token'): FairmindError {
  return new FairmindError(
    'TOKEN_REVOKED',
    401,
    `${PREFIX} ${what} has been revoked: sign in again`,
    { headers: CHALLENGE },
  );
}

/** No credential was sent. */
export function unauthenticated(): FairmindError {
  return new FairmindError(
    'UNAUTHENTICATED',
    401,
    `${PREFIX} send an access token as "Authorization: Bearer <token>" or an API key as "X-API-Key: <key>"`,
    { headers: CHALLENGE },
  );
}

/** A spent refresh token came back: its family is revoked. */
export function refreshTokenReused(): FairmindError {
  return new FairmindError(
    'REFRESH_TOKEN_REUSED',
    401,
    `${PREFIX} this refresh token was already used, so every token of its session has been revoked: sign in again`,
    { headers: CHALLENGE },
  );
}

/** The principal lacks a permission or role. */
export function forbidden(reason: string): FairmindError {
  return new FairmindError('FORBIDDEN', 403, `${PREFIX} ${reason}`);
}

/** Bad input from a client, such as a password of the wrong length. */
export function validationFailed(message: string): FairmindError {
  return new FairmindError('VALIDATION_FAILED', 400, `${PREFIX} ${message}`);
}

/**
 * The revocation (or another) store could not be reached and the configuration says to fail
 * closed. 503, not 401: the credential may be fine, and the client should retry.
 */
export function storeUnavailable(what: string, cause: unknown): FairmindError {
  return new FairmindError(
    'AUTH_STORE_UNAVAILABLE',
    503,
    `${PREFIX} the ${what} could not be reached, so the credential cannot be checked: try again shortly`,
    { cause, headers: { 'Retry-After': '1' } },
  );
}

/** Options refused at creation, naming the option. */
export function invalid(option: string, problem: string, cause?: unknown): FairmindError {
  return optionScopeError(OPTIONS, `${option} ${problem}`, cause);
}

/** A short description of any thrown value, for log lines (never a secret: messages only). */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
