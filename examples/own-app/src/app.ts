// The glue: the FairMind pieces wired into an Express app of its own. Everything about notes
// themselves is in notes.ts.
import { fileURLToPath } from 'node:url';
import { createAuth, type RoleTable } from '@fairmind/auth';
import { createRedisAttemptStore, createRedisRevocationStore } from '@fairmind/auth/redis';
import { authRoutes, requirePrincipal } from '@fairmind/auth/routes';
import {
  authMigrations,
  createSqlRefreshFamilyStore,
  createSqlUserStore,
} from '@fairmind/auth/sql';
import { createCache, createResponseCache } from '@fairmind/cache';
import { FairmindError, type Logger, requestSearch } from '@fairmind/core';
import { createDatabase, migrate } from '@fairmind/db-pool';
import {
  decodeCursor,
  json,
  listQuerySchema,
  queryObject,
  rateLimit,
  readJsonBody,
  requestLog,
  securityHeaders,
  validate,
} from '@fairmind/edge';
import { handle, notFoundHandler, problemHandler, use } from '@fairmind/express';
import express from 'express';
import { Redis } from 'ioredis';
import { createNotes, NoteInput } from './notes.js';

/** FairMind's roles stay as they are; these add the notes permissions on top. */
export const ROLES = {
  reader: { inherits: ['viewer'], permissions: ['notes:read'] },
  writer: { inherits: ['reader'], permissions: ['notes:write'] },
} as const satisfies RoleTable;

export interface NotesAppOptions {
  databaseUrl: string;
  redisUrl: string;
  jwtSecret: string;
  logger: Logger;
  /**
   * Keys in Redis start with it (such as 'notes:'), so several apps or test runs can share one
   * server. Each store takes it as an option; a client keyPrefix would hide keys from scripts.
   * @default 'notes:'
   */
  redisPrefix?: string;
  /** Seconds a tab may repeat a refresh another tab just made; see docs/auth.md. */
  refreshReuseIntervalSeconds?: number;
}

export async function createNotesApp(options: NotesAppOptions) {
  const { logger } = options;
  const db = createDatabase({ url: options.databaseUrl, logger });
  const redis = new Redis(options.redisUrl);
  const prefix = options.redisPrefix ?? 'notes:';
  await migrate({ db, ...authMigrations, logger });
  await migrate({ db, dir: fileURLToPath(new URL('../migrations', import.meta.url)), logger });

  const users = createSqlUserStore(db);
  const auth = createAuth({
    secret: options.jwtSecret,
    users,
    refreshFamilies: createSqlRefreshFamilyStore(db),
    revocation: createRedisRevocationStore({ client: redis, prefix: `${prefix}auth:` }),
    attempts: createRedisAttemptStore({ client: redis, prefix: `${prefix}auth:` }),
    rbac: { roles: ROLES },
    refreshReuseIntervalSeconds: options.refreshReuseIntervalSeconds ?? 10,
    logger,
  });
  const cache = createCache({ redis, namespace: `${prefix}cache` });
  const notes = createNotes(db);
  // Each user's list, kept until that user writes: clients revalidate with If-None-Match.
  const lists = createResponseCache({
    cache,
    ttl: '5m',
    vary: [(exchange) => exchange.state.auth?.id],
    tags: (exchange) => [`notes:${exchange.state.auth?.id}`],
  });

  const app = express();
  app.disable('x-powered-by');
  app.use(use([requestLog({ logger }), securityHeaders()], { logger }));
  app.use('/auth/login', use(rateLimit({ limit: 10, windowSeconds: 60 })));
  // Browsers get the refresh token in a cookie; API clients in the JSON, under /api/auth.
  app.all('/auth/*splat', handle(authRoutes(auth, { users, cookies: true }).handler, { logger }));
  app.all(
    '/api/auth/*splat',
    handle(authRoutes(auth, { users, prefix: '/api/auth', userAdmin: false }).handler, { logger }),
  );

  app.get(
    '/notes',
    use(auth.requirePermission('notes:read')),
    handle(
      lists.cached(async (exchange) => {
        const query = queryObject(new URLSearchParams(requestSearch(exchange.request.url)));
        const { limit, cursor } = await validate(listQuerySchema, query, 'query');
        const after = cursor === undefined ? undefined : decodeCursor(cursor);
        const page = await notes.list(requirePrincipal(exchange).id, limit, after);
        // no-cache: clients keep it, and revalidate with If-None-Match each time.
        return json(200, page, { 'cache-control': 'no-cache' });
      }),
    ),
  );
  app.post('/notes', use(auth.requirePermission('notes:write')), async (req, res) => {
    const note = await notes.create(req.auth.id, await readJsonBody(req, NoteInput));
    await lists.invalidate([`notes:${req.auth.id}`]);
    res.status(201).json(note);
  });
  app.delete('/notes/:id', use(auth.requirePermission('notes:write')), async (req, res) => {
    if (!(await notes.remove(req.auth.id, req.params.id))) {
      throw new FairmindError('NOT_FOUND', 404, 'No such note of yours: check the id.');
    }
    await lists.invalidate([`notes:${req.auth.id}`]);
    res.status(204).end();
  });

  app.use(notFoundHandler);
  app.use(problemHandler({ logger }));

  return {
    app,
    auth,
    db,
    async close() {
      await auth.close();
      await cache.close();
      await db.close();
      redis.disconnect();
    },
  };
}
