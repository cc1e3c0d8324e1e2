import type { Auth, Principal, UserStore } from '@fairmind/auth';
import { type ClientIpResolver, type Exchange, FairmindError } from '@fairmind/core';
import { z } from 'zod';
import { decodeCursor, listQuerySchema, toPage } from '../pagination/index.js';
import { json, noContent, parseWith, queryObject, type Route, requirePrincipal } from './index.js';

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

// RFC 6749 section 5.1: an answer holding tokens must not be stored by any cache.
const NO_STORE = { 'cache-control': 'no-store' } as const;

const loginSchema = z
  .object({ email: z.string().max(320), password: z.string().max(1024) })
  .strict();
const refreshSchema = z.object({ refreshToken: z.string().min(1).max(8192) }).strict();
const logoutSchema = z.object({ refreshToken: z.string().min(1).max(8192).optional() }).strict();
const createUserSchema = z
  .object({ email: z.string().max(320), password: z.string().max(1024), role: z.string().max(64) })
  .strict();
const createApiKeySchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    scopes: z.array(z.string().max(128)).max(50).optional(),
    expiresInDays: z.number().int().min(1).max(3650).optional(),
  })
  .strict();

/**
 * Managing API keys with an API key needs the key to carry `apikeys:create`: a key scoped to
 * `models:read` must not list or revoke its owner's other keys.
 */
function keyManager(auth: Auth, exchange: Exchange): Principal {
  const principal = requirePrincipal(exchange);
  if (principal.type === 'api_key' && !auth.can(principal, 'apikeys:create')) {
    throw new FairmindError(
      'FORBIDDEN',
      403,
      'This API key may not manage API keys: use a key with the apikeys:create scope, or sign in.',
    );
  }
  return principal;
}

interface Deps {
  auth: Auth;
  users: UserStore;
  clientIp: ClientIpResolver;
}

/** `/auth/*` of HTTP-API.md. */
export function authRoutes({ auth, users, clientIp }: Deps): Array<[string, string, Route]> {
  const context = (exchange: Exchange) => ({ ip: clientIp(exchange).ip });
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
          return json(200, await auth.login(credentials, context(exchange)), NO_STORE);
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
          return json(200, await auth.refresh(refreshToken, context(exchange)), NO_STORE);
        },
      },
    ],
    [
      'POST',
      '/auth/logout',
      {
        permission: 'authenticated',
        async handle({ exchange, body }) {
          // The body is optional: an empty one logs out the access token and its family.
          if (requirePrincipal(exchange).type === 'api_key') {
            throw new FairmindError(
              'VALIDATION_FAILED',
              400,
              'An API key is not a session: revoke it with DELETE /auth/api-keys/:id instead of logging out.',
            );
          }
          const length = exchange.request.headers.get('content-length');
          const hasBody =
            length !== null
              ? length !== '0'
              : exchange.request.headers.get('transfer-encoding') !== null;
          const { refreshToken } = hasBody ? await body(logoutSchema) : {};
          await auth.logout(requirePrincipal(exchange), {
            ...context(exchange),
            ...(refreshToken === undefined ? {} : { refreshToken }),
          });
          return noContent();
        },
      },
    ],
    [
      'GET',
      '/auth/me',
      {
        permission: 'authenticated',
        async handle({ exchange }) {
          const principal = requirePrincipal(exchange);
          const user = await users.findById(principal.id);
          if (!user)
            throw new FairmindError(
              'UNAUTHENTICATED',
              401,
              'This account no longer exists: log in again.',
            );
          return json(200, {
            id: user.id,
            email: user.email,
            role: user.role,
            permissions: PERMISSIONS.filter((permission) => auth.can(principal, permission)),
          });
        },
      },
    ],
    [
      'POST',
      '/auth/users',
      {
        permission: 'users:manage',
        async handle({ exchange, body }) {
          const input = await body(createUserSchema);
          const user = await auth.createUser(input, {
            ...context(exchange),
            actorId: requirePrincipal(exchange).id,
          });
          return json(201, user);
        },
      },
    ],
    [
      'POST',
      '/auth/api-keys',
      {
        permission: 'apikeys:create',
        async handle({ exchange, body }) {
          const input = await body(createApiKeySchema);
          const key = await auth.createApiKey(requirePrincipal(exchange), input, context(exchange));
          return json(
            201,
            {
              id: key.id,
              name: key.name,
              key: key.key,
              prefix: key.prefix,
              scopes: key.scopes,
              expiresAt: key.expiresAt,
              createdAt: key.createdAt,
            },
            // The key is shown this once; no cache may keep a copy.
            NO_STORE,
          );
        },
      },
    ],
    [
      'GET',
      '/auth/api-keys',
      {
        permission: 'authenticated',
        async handle({ exchange, query }) {
          const { limit, cursor } = parseWith(listQuerySchema, queryObject(query), 'query');
          const after = cursor === undefined ? undefined : decodeCursor(cursor);
          // A user holds a handful of keys, so the page is cut in memory, newest first, with
          // the same cursor as every other list.
          const keys = (await auth.listApiKeys(keyManager(auth, exchange)))
            .sort((a, b) =>
              a.createdAt === b.createdAt
                ? b.id.localeCompare(a.id)
                : b.createdAt.localeCompare(a.createdAt),
            )
            .filter(
              (key) =>
                after === undefined ||
                key.createdAt < after.createdAt ||
                (key.createdAt === after.createdAt && key.id < after.id),
            );
          return json(200, toPage(keys.slice(0, limit + 1), limit));
        },
      },
    ],
    [
      'DELETE',
      '/auth/api-keys/:id',
      {
        permission: 'authenticated',
        async handle({ exchange, params }) {
          await auth.revokeApiKey(
            keyManager(auth, exchange),
            params['id'] as string,
            context(exchange),
          );
          return noContent();
        },
      },
    ],
  ];
}
