import { requirePrincipal } from '@fairmind/auth/routes';
import type { Cache } from '@fairmind/cache';
import { JSON_CONTENT_TYPE, type Reply } from '@fairmind/core';
import type { Database, Reader } from '@fairmind/db-pool';
import { json, noContent, type Route } from '@fairmind/edge';
import type { AssessmentRepository } from '../assessments/index.js';
import { createAssessmentSchema } from '../assessments/index.js';
import { computeDashboard } from '../dashboard/index.js';
import { createModelSchema, type ModelRepository, updateModelSchema } from '../models/index.js';
import { auditRoute } from './audit.js';
import { listQuery, PRIVATE } from './index.js';

interface Deps {
  db: Database;
  cache: Cache;
  models: ModelRepository;
  assessments: AssessmentRepository;
}

// Cache tags: a write invalidates exactly what it can change, on every instance (the cache's
// bus), before the write's response goes out, so the writer's next read is fresh. The cached
// reads are stored with refreshOnInvalidate: the write's invalidateTags loads them again
// before it resolves, and reads that come meanwhile get the page from before the write, still
// a hit. With drop-on-write instead, a list written to every few milliseconds was a miss for
// most reads (a hit rate of 3-9% on bench/platform.ts's 90/10 mix).
const DASHBOARD = 'dashboard';
const MODELS = 'models';
const assessmentsTag = (modelId: string) => `assessments:${modelId}`;

/**
 * Where a list or the dashboard about to be cached is read: a read replica when the database
 * has one, held to every write committed before this read (the primary's position now, one
 * short query), so a cache filled just after a write's invalidation, on any instance, never
 * holds a page from before that write. Without replicas, the database itself.
 */
function freshReader(db: Database): () => Promise<Reader> {
  // Whether there are replicas is fixed when the database is made: asked once, not per read.
  if (db.replicas().length === 0) return async () => db;
  return async () => db.read({ after: await db.writePosition() });
}

/**
 * A read answered from the cache as the JSON text it is sent as, so a hit, the common case,
 * serializes nothing: every client gets the same page, and `JSON.stringify` of it was the
 * largest cost of a cached list after the Redis round trips (5% of example-fastify's time; 9%
 * more lists per second without it). Keys end in `:json`, so an instance of an earlier
 * version, which cached the object under the same name without it, never reads text as an
 * object or the other way round. An async route awaits it rather than returning it: an async
 * function that returns a promise adopts it through a job and two more turns of the
 * microtask queue.
 */
async function cachedJson(
  cache: Cache,
  key: string,
  load: () => Promise<unknown>,
  tags: string[],
): Promise<Reply> {
  const text = await cache.getOrSet(`${key}:json`, async () => JSON.stringify(await load()), {
    tags,
    refreshOnInvalidate: true,
  });
  return { status: 200, headers: CACHED_JSON_HEADERS, body: text };
}

// Every cached read is an authenticated one: its Cache-Control is set here, once, so the
// dispatcher does not copy the reply to add it.
const CACHED_JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': JSON_CONTENT_TYPE,
  'cache-control': PRIVATE,
});

/** `/api/v1/models` and `/api/v1/models/:id`: reads through the cache, writes invalidate it. */
function modelRoutes(
  { cache, models }: Deps,
  fresh: () => Promise<Reader>,
): Array<[string, string, Route]> {
  return [
    [
      'GET',
      '/api/v1/models',
      {
        permission: 'models:read',
        async handle(context) {
          const { limit, cursor } = listQuery(context);
          return await cachedJson(
            cache,
            `models:list:${limit}:${cursor ?? ''}`,
            async () => models.list(limit, cursor, await fresh()),
            [MODELS],
          );
        },
      },
    ],
    [
      'POST',
      '/api/v1/models',
      {
        permission: 'models:write',
        async handle(context) {
          const input = await context.body(createModelSchema);
          const model = await models.create(input, requirePrincipal(context.exchange).id);
          await cache.invalidateTags([MODELS, DASHBOARD]);
          return json(201, model);
        },
      },
    ],
    [
      'GET',
      '/api/v1/models/:id',
      {
        permission: 'models:read',
        async handle({ params }) {
          return json(200, await models.get(params['id'] as string));
        },
      },
    ],
    [
      'PATCH',
      '/api/v1/models/:id',
      {
        permission: 'models:write',
        async handle(context) {
          const changes = await context.body(updateModelSchema);
          const model = await models.update(context.params['id'] as string, changes);
          await cache.invalidateTags([MODELS, DASHBOARD]);
          return json(200, model);
        },
      },
    ],
    [
      'DELETE',
      '/api/v1/models/:id',
      {
        permission: 'models:delete',
        async handle({ params }) {
          const id = params['id'] as string;
          await models.delete(id);
          await cache.invalidateTags([MODELS, DASHBOARD, assessmentsTag(id)]);
          return noContent();
        },
      },
    ],
  ];
}

/** `/api/v1/models/:id/assessments`: a new assessment changes its model's list and the dashboard. */
function assessmentRoutes(
  { cache, assessments }: Deps,
  fresh: () => Promise<Reader>,
): Array<[string, string, Route]> {
  return [
    [
      'POST',
      '/api/v1/models/:id/assessments',
      {
        permission: 'assessments:write',
        async handle(context) {
          const id = context.params['id'] as string;
          const input = await context.body(createAssessmentSchema);
          const actorId = requirePrincipal(context.exchange).id;
          const assessment = await assessments.create(id, input, actorId);
          await cache.invalidateTags([DASHBOARD, assessmentsTag(id)]);
          return json(201, assessment);
        },
      },
    ],
    [
      'GET',
      '/api/v1/models/:id/assessments',
      {
        permission: 'assessments:read',
        async handle(context) {
          const id = context.params['id'] as string;
          const { limit, cursor } = listQuery(context);
          return await cachedJson(
            cache,
            `assessments:list:${id}:${limit}:${cursor ?? ''}`,
            async () => assessments.list(id, limit, cursor, await fresh()),
            [assessmentsTag(id)],
          );
        },
      },
    ],
  ];
}

/** `/api/v1/*` of HTTP-API.md. */
export function governanceRoutes(deps: Deps): Array<[string, string, Route]> {
  const { db, cache } = deps;
  const fresh = freshReader(db);
  const dashboard: Route = {
    permission: 'dashboard:read',
    handle: () =>
      cachedJson(cache, 'dashboard', async () => computeDashboard(await fresh()), [DASHBOARD]),
  };
  return [
    ...modelRoutes(deps, fresh),
    ...assessmentRoutes(deps, fresh),
    ['GET', '/api/v1/dashboard', dashboard],
    ['GET', '/api/v1/audit', auditRoute(db)],
  ];
}
