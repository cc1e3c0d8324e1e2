import type { Auth, UserStore } from '@fairmind/auth';
import { type ClientIpResolver, type Exchange, FairmindError } from '@fairmind/core';
import { json, noContent, type Route, type RouteContext } from '@fairmind/edge';
import { z } from 'zod';
import { apiKeyRoutes } from './api-keys.js';
import { NO_STORE, requestContext, requirePrincipal } from './index.js';

/** Every permission of HTTP-API.md, so `/auth/me` lists concrete ones, never wildcards. */
export const PERMISSIONS = [
  'models:read',
  'models:write',
  'models:delete',
  'assessments:read',
  'assessments:write',
  'dashboard:read',
  'users:manage',
  'audit:read',
  'apikeys:create',
] as const;

const loginSchema = z
  .object({ email: z.string().max(320), password: z.string().max(1024) })
  .strict();
const refreshSchema = z.object({ refreshToken: z.string().min(1).max(8192) }).strict();
const logoutSchema = z.object({ refreshToken: z.string().min(1).max(8192).optional() }).strict();
const createUserSchema = z
  .object({ email: z.string().max(320), password: z.string().max(1024), role: z.string().max(64) })
  .strict();

interface Deps {
  auth: Auth;
  users: UserStore;
  clientIp: ClientIpResolver;
}

/** Whether the request carries a body at all: logout's is optional. */
function hasBody(exchange: Exchange): boolean {
  const length = exchange.request.headers.get('content-length');
  return length !== null
    ? length !== '0'
    : exchange.request.headers.get('transfer-encoding') !== null;
}

/** Logs out the access token's session, and the refresh token's family when one is sent. */
async function logout({ auth, clientIp }: Deps, { exchange, body }: RouteContext) {
  if (requirePrincipal(exchange).type === 'api_key') {
    throw new FairmindError(
      'VALIDATION_FAILED',
      400,
      'An API key is not a session: revoke it with DELETE /auth/api-keys/:id instead of logging out.',
    );
  }
  // The body is optional: an empty one logs out the access token and its family.
  const { refreshToken } = hasBody(exchange) ? await body(logoutSchema) : {};
  await auth.logout(requirePrincipal(exchange), {
    ...requestContext(clientIp, exchange),
    ...(refreshToken === undefined ? {} : { refreshToken }),
  });
  return noContent();
}

/** The signed-in user with the concrete permissions their role (or key's scopes) grants. */
async function me({ auth, users }: Deps, { exchange }: RouteContext) {
  const principal = requirePrincipal(exchange);
  const user = await users.findById(principal.id);
  if (!user)
    throw new FairmindError('UNAUTHENTICATED', 401, 'This account no longer exists: log in again.');
  return json(200, {
    id: user.id,
    email: user.email,
    role: user.role,
    permissions: PERMISSIONS.filter((permission) => auth.can(principal, permission)),
  });
}

/** Sign-in, token refresh, logout and `/auth/me`. */
function sessionRoutes(deps: Deps): Array<[string, string, Route]> {
  const { auth, clientIp } = deps;
  // The login body is read before the throttle can see it, so a login with a body that is not
  // even valid still counts as a request for the rate limit (edge), not as a failed attempt.
  return [
    [
      'POST',
      '/auth/login',
      {
        permission: null,
        async handle({ exchange, body }) {
          const credentials = await body(loginSchema);
          const context = requestContext(clientIp, exchange);
          return json(200, await auth.login(credentials, context), NO_STORE);
        },
      },
    ],
    [
      'POST',
      '/auth/refresh',
      {
        permission: null,
        async handle({ exchange, body }) {
          const { refreshToken } = await body(refreshSchema);
          const context = requestContext(clientIp, exchange);
          return json(200, await auth.refresh(refreshToken, context), NO_STORE);
        },
      },
    ],
    ['POST', '/auth/logout', { permission: 'authenticated', handle: (c) => logout(deps, c) }],
    ['GET', '/auth/me', { permission: 'authenticated', handle: (c) => me(deps, c) }],
  ];
}

/** `/auth/*` of HTTP-API.md. */
export function authRoutes(deps: Deps): Array<[string, string, Route]> {
  const { auth, clientIp } = deps;
  const createUser: Route = {
    permission: 'users:manage',
    async handle({ exchange, body }) {
      const input = await body(createUserSchema);
      const user = await auth.createUser(input, {
        ...requestContext(clientIp, exchange),
        actorId: requirePrincipal(exchange).id,
      });
      return json(201, user);
    },
  };
  return [
    ...sessionRoutes(deps),
    ['POST', '/auth/users', createUser],
    ...apiKeyRoutes({ auth, clientIp }),
  ];
}
