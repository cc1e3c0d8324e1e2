import type { ApiKeyView, Auth, Principal } from '@fairmind/auth';
import { type ClientIpResolver, type Exchange, FairmindError } from '@fairmind/core';
import {
  type CursorPosition,
  decodeCursor,
  json,
  listQuerySchema,
  noContent,
  queryObject,
  type Route,
  toPage,
} from '@fairmind/edge';
import { z } from 'zod';
import { NO_STORE, parseWith, requestContext, requirePrincipal } from './index.js';

interface Deps {
  auth: Auth;
  clientIp: ClientIpResolver;
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

/** `/auth/api-keys` of HTTP-API.md: create, list and revoke the caller's keys. */
export function apiKeyRoutes({ auth, clientIp }: Deps): Array<[string, string, Route]> {
  return [
    [
      'POST',
      '/auth/api-keys',
      {
        permission: 'apikeys:create',
        async handle({ exchange, body }) {
          const input = await body(createApiKeySchema);
          const principal = requirePrincipal(exchange);
          const key = await auth.createApiKey(principal, input, requestContext(clientIp, exchange));
          const { id, name, prefix, scopes, expiresAt, createdAt } = key;
          // The key is shown this once; no cache may keep a copy.
          return json(
            201,
            { id, name, key: key.key, prefix, scopes, expiresAt, createdAt },
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
          const keys = keysAfter(await auth.listApiKeys(keyManager(auth, exchange)), after);
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
          const manager = keyManager(auth, exchange);
          const id = params['id'] as string;
          await auth.revokeApiKey(manager, id, requestContext(clientIp, exchange));
          return noContent();
        },
      },
    ],
  ];
}
