import type { Cache } from '@fairmind/cache';
import { type Database, sql } from '@fairmind/db-pool';
import { z } from 'zod';
import type { AssessmentRepository } from '../assessments/index.js';
import { createAssessmentSchema } from '../assessments/index.js';
import { computeDashboard } from '../dashboard/index.js';
import { createModelSchema, type ModelRepository, updateModelSchema } from '../models/index.js';
import { decodeCursor, listQuerySchema, toPage } from '../pagination/index.js';
import { json, noContent, parseWith, queryObject, type Route, requirePrincipal } from './index.js';

interface Deps {
  db: Database;
  cache: Cache;
  models: ModelRepository;
  assessments: AssessmentRepository;
}

const auditQuerySchema = listQuerySchema
  .extend({ type: z.string().min(1).max(64).optional() })
  .strict();

// Cache tags: a write invalidates exactly what it can change, on every instance (the cache's
// bus), before the write's response goes out, so the writer's next read is fresh.
const DASHBOARD = 'dashboard';
const MODELS = 'models';
const assessmentsTag = (modelId: string) => `assessments:${modelId}`;

interface AuditRow {
  id: string;
  type: string;
  actor_id: string | null;
  ip: string | null;
  at: string;
  details: string;
  [column: string]: unknown;
}

/** `/api/v1/*` of HTTP-API.md. */
export function governanceRoutes({
  db,
  cache,
  models,
  assessments,
}: Deps): Array<[string, string, Route]> {
  return [
    [
      'GET',
      '/api/v1/models',
      {
        permission: 'models:read',
        async handle({ query }) {
          const { limit, cursor } = parseWith(listQuerySchema, queryObject(query), 'query');
          const page = await cache.getOrSet(
            `models:list:${limit}:${cursor ?? ''}`,
            () => models.list(limit, cursor),
            {
              tags: [MODELS],
            },
          );
          return json(200, page);
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
    [
      'POST',
      '/api/v1/models/:id/assessments',
      {
        permission: 'assessments:write',
        async handle(context) {
          const id = context.params['id'] as string;
          const input = await context.body(createAssessmentSchema);
          const assessment = await assessments.create(
            id,
            input,
            requirePrincipal(context.exchange).id,
          );
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
        async handle({ params, query }) {
          const id = params['id'] as string;
          const { limit, cursor } = parseWith(listQuerySchema, queryObject(query), 'query');
          const page = await cache.getOrSet(
            `assessments:list:${id}:${limit}:${cursor ?? ''}`,
            () => assessments.list(id, limit, cursor),
            { tags: [assessmentsTag(id)] },
          );
          return json(200, page);
        },
      },
    ],
    [
      'GET',
      '/api/v1/dashboard',
      {
        permission: 'dashboard:read',
        async handle() {
          return json(
            200,
            await cache.getOrSet('dashboard', () => computeDashboard(db), { tags: [DASHBOARD] }),
          );
        },
      },
    ],
    [
      'GET',
      '/api/v1/audit',
      {
        permission: 'audit:read',
        async handle({ query }) {
          const { limit, cursor, type } = parseWith(auditQuerySchema, queryObject(query), 'query');
          const after = cursor === undefined ? undefined : decodeCursor(cursor);
          const rows = await db.many<AuditRow>(sql`
            select id, type, actor_id, ip, at, details from auth_audit_events
            where 1 = 1
            ${type ? sql`and type = ${type}` : sql.empty}
            ${after ? sql`and (at, id) < (${after.createdAt}, ${after.id})` : sql.empty}
            order by at desc, id desc
            limit ${limit + 1}`);
          const events = rows.map((row) => ({
            id: row.id,
            type: row.type,
            actorId: row.actor_id,
            ip: row.ip,
            at: row.at,
            createdAt: row.at,
            details: JSON.parse(row.details) as unknown,
          }));
          const page = toPage(events, limit);
          return json(200, {
            items: page.items.map(({ createdAt: _, ...event }) => event),
            nextCursor: page.nextCursor,
          });
        },
      },
    ],
  ];
}
