import { FairmindError } from '@fairmind/core';
import { json, noContent, type Route, type RouteContext } from '@fairmind/edge';
import { z } from 'zod';
import type { Auth, TokenPair } from '../auth/index.js';
import type { UserStore } from '../users/index.js';
import { hasBody, NO_STORE, type RequestOrigin, requirePrincipal, requireUser } from './context.js';
import type { CookieSession } from './cookies.js';

const loginSchema = z
  .object({ email: z.string().max(320), password: z.string().max(1024) })
  .strict();
const refreshSchema = z.object({ refreshToken: z.string().min(1).max(8192) }).strict();
const logoutSchema = z.object({ refreshToken: z.string().min(1).max(8192).optional() }).strict();
const passwordSchema = z
  .object({ currentPassword: z.string().max(1024), newPassword: z.string().max(1024) })
  .strict();

/** What the session routes share. */
export interface SessionDeps {
  readonly auth: Auth;
  readonly users: UserStore;
  readonly origin: RequestOrigin;
  /** The permissions `/me` lists, concrete ones only. */
  readonly permissions: readonly string[];
  /** The cookie mode, or `undefined` for Bearer only. */
  readonly cookies: CookieSession | undefined;
}

/**
 * A token answer: as it is in Bearer mode; in cookie mode the refresh token goes into its
 * cookie instead of the body, and the body carries the CSRF token that goes with it.
 */
function tokenReply(deps: SessionDeps, status: number, result: TokenPair & object) {
  if (deps.cookies === undefined) return json(status, result, NO_STORE);
  const { refreshToken, ...rest } = result;
  const { headers, csrfToken } = deps.cookies.store(refreshToken);
  return json(status, { ...rest, csrfToken }, { ...NO_STORE, ...headers });
}

async function refresh(deps: SessionDeps, { exchange, body }: RouteContext) {
  // The cookie, CSRF-checked, when there is one; a body token otherwise (API clients).
  const fromCookie = deps.cookies?.refreshTokenOf(exchange);
  const refreshToken =
    fromCookie ??
    (deps.cookies !== undefined && !hasBody(exchange)
      ? unauthenticated('Sign in: there is no session cookie and no refreshToken.')
      : (await body(refreshSchema)).refreshToken);
  return tokenReply(deps, 200, await deps.auth.refresh(refreshToken, deps.origin(exchange)));
}

function unauthenticated(message: string): never {
  throw new FairmindError('UNAUTHENTICATED', 401, message, {
    headers: { 'WWW-Authenticate': 'Bearer' },
  });
}

/** Logs out the access token's session, and the refresh token's family when one is sent. */
async function logout(deps: SessionDeps, { exchange, body }: RouteContext) {
  const principal = requireUser(
    exchange,
    'revoke it with DELETE /auth/api-keys/:id instead of logging out.',
  );
  // The body is optional: an empty one logs out the access token and its family.
  const { refreshToken } = hasBody(exchange) ? await body(logoutSchema) : {};
  await deps.auth.logout(principal, {
    ...deps.origin(exchange),
    ...(refreshToken === undefined ? {} : { refreshToken }),
  });
  const reply = noContent();
  return deps.cookies ? { ...reply, headers: deps.cookies.clear() } : reply;
}

/** The signed-in user with the concrete permissions their role (or key's scopes) grants. */
async function me(deps: SessionDeps, { exchange }: RouteContext) {
  const principal = requirePrincipal(exchange);
  const user = await deps.users.findById(principal.id);
  if (!user) unauthenticated('This account no longer exists: log in again.');
  return json(200, {
    id: user.id,
    email: user.email,
    role: user.role,
    permissions: deps.permissions.filter((permission) => deps.auth.can(principal, permission)),
  });
}

/**
 * A new password, given the current one: every other session of the user ends (the new
 * password revokes all their tokens), and the caller gets a new pair to stay signed in.
 */
async function changePassword(deps: SessionDeps, { exchange, body }: RouteContext) {
  const principal = requireUser(exchange, 'sign in with a password to change it.');
  const { currentPassword, newPassword } = await body(passwordSchema);
  const user = await deps.users.findById(principal.id);
  if (!user) unauthenticated('This account no longer exists: log in again.');
  if (!(await deps.auth.passwords.verify(currentPassword, user.passwordHash))) {
    throw new FairmindError(
      'VALIDATION_FAILED',
      400,
      'currentPassword is not the password of this account: check it and try again.',
      { details: { issues: [{ path: 'currentPassword', message: 'does not match' }] } },
    );
  }
  const context = { ...deps.origin(exchange), actorId: user.id };
  const updated = await deps.auth.updateUser(user.id, { password: newPassword }, context);
  return tokenReply(deps, 200, await deps.auth.issueTokens(updated, deps.origin(exchange)));
}

/** Sign-in, refresh, logout, `/me` and the password change, as `[method, path, route]`. */
export function sessionRoutes(
  deps: SessionDeps,
  options: { password: boolean },
): Array<[string, string, Route]> {
  const { auth, origin } = deps;
  // The login body is read before the throttle can see it, so a login with a body that is not
  // even valid still counts as a request for the rate limit (edge), not as a failed attempt.
  const login: Route = {
    permission: null,
    async handle({ exchange, body }) {
      const credentials = await body(loginSchema);
      return tokenReply(deps, 200, await auth.login(credentials, origin(exchange)));
    },
  };
  return [
    ['POST', '/login', login],
    ['POST', '/refresh', { permission: null, handle: (c) => refresh(deps, c) }],
    ['POST', '/logout', { permission: 'authenticated', handle: (c) => logout(deps, c) }],
    ['GET', '/me', { permission: 'authenticated', handle: (c) => me(deps, c) }],
    ...(options.password
      ? ([
          [
            'POST',
            '/password',
            { permission: 'authenticated', handle: (c) => changePassword(deps, c) },
          ],
        ] as Array<[string, string, Route]>)
      : []),
  ];
}
