import { type Exchange, FairmindError } from '@fairmind/core';
import {
  type CursorPosition,
  decodeCursor,
  json,
  listQuerySchema,
  noContent,
  queryObject,
  type Route,
  toPage,
  validate,
} from '@fairmind/edge';
import { z } from 'zod';
import type { ApiKeyView, Auth } from '../auth/index.js';
import type { Principal } from '../rbac/index.js';
import { NO_STORE, type RequestOrigin, requirePrincipal } from './context.js';

/** What the admin routes share. */
export interface AdminDeps {
  readonly auth: Auth;
  readonly origin: RequestOrigin;
}

const createUserSchema = z
  .object({ email: z.string().max(320), password: z.string().max(1024), role: z.string().max(64) })
  .strict();
const updateUserSchema = z
  .object({ role: z.string().max(64).optional(), disabled: z.boolean().optional() })
  .strict()
  .refine((changes) => changes.role !== undefined || changes.disabled !== undefined, {
    message: 'give role or disabled',
  });

/**
 * `/users`: create with `'create'`; with `'manage'` also `PATCH /users/:id` (`{ role }`,
 * `{ disabled: true | false }`) and deletion.
 */
export function userRoutes(
  { auth, origin }: AdminDeps,
  level: 'create' | 'manage',
): Array<[string, string, Route]> {
  const actor = (exchange: Exchange) => ({
    ...origin(exchange),
    actorId: requirePrincipal(exchange).id,
  });
  const routes: Array<[string, string, Route]> = [
    [
      'POST',
      '/users',
      {
        permission: 'users:manage',
        async handle({ exchange, body }) {
          return json(201, await auth.createUser(await body(createUserSchema), actor(exchange)));
        },
      },
    ],
  ];
  if (level === 'create') return routes;
  return [
    ...routes,
    [
      'PATCH',
      '/users/:id',
      {
        permission: 'users:manage',
        async handle({ exchange, params, body }) {
          const changes = await body(updateUserSchema);
          const user = await auth.updateUser(params['id'] as string, changes, actor(exchange));
          return json(200, user);
        },
      },
    ],
    [
      'DELETE',
      '/users/:id',
      {
        permission: 'users:manage',
        async handle({ exchange, params }) {
          await auth.deleteUser(params['id'] as string, actor(exchange));
          return noContent();
        },
      },
    ],
  ];
}

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

/**
 * A user holds a handful of keys, so the page is cut in memory, newest first, with the same
 * cursor as every other list.
 */
function keysAfter(keys: ApiKeyView[], after: CursorPosition | undefined): ApiKeyView[] {
  return keys
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
}

/** `/api-keys`: create, list and revoke the caller's keys. */
export function apiKeyRoutes({ auth, origin }: AdminDeps): Array<[string, string, Route]> {
  const create: Route = {
    permission: 'apikeys:create',
    async handle({ exchange, body }) {
      const input = await body(createApiKeySchema);
      const key = await auth.createApiKey(requirePrincipal(exchange), input, origin(exchange));
      const { id, name, prefix, scopes, expiresAt, createdAt } = key;
      // The key is shown this once; no cache may keep a copy.
      return json(201, { id, name, key: key.key, prefix, scopes, expiresAt, createdAt }, NO_STORE);
    },
  };
  const list: Route = {
    permission: 'authenticated',
    async handle({ exchange, query }) {
      const { limit, cursor } = await validate(listQuerySchema, queryObject(query), 'query');
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      const keys = keysAfter(await auth.listApiKeys(keyManager(auth, exchange)), after);
      return json(200, toPage(keys.slice(0, limit + 1), limit));
    },
  };
  const revoke: Route = {
    permission: 'authenticated',
    async handle({ exchange, params }) {
      const manager = keyManager(auth, exchange);
      await auth.revokeApiKey(manager, params['id'] as string, origin(exchange));
      return noContent();
    },
  };
  return [
    ['POST', '/api-keys', create],
    ['GET', '/api-keys', list],
    ['DELETE', '/api-keys/:id', revoke],
  ];
}
