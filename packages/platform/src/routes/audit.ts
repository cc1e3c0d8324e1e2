import { type Database, sql } from '@fairmind/db-pool';
import {
  decodeCursor,
  json,
  listQuerySchema,
  queryObject,
  type Route,
  toPage,
} from '@fairmind/edge';
import { z } from 'zod';
import { parseWith } from './index.js';

const auditQuerySchema = listQuerySchema
  .extend({ type: z.string().min(1).max(64).optional() })
  .strict();

interface AuditRow {
  id: string;
  type: string;
  actor_id: string | null;
  ip: string | null;
  at: string;
  details: string;
  [column: string]: unknown;
}

/** One page of the auth audit trail, newest first, optionally of one event type. */
async function auditPage(db: Database, query: URLSearchParams) {
  const { limit, cursor, type } = parseWith(auditQuerySchema, queryObject(query), 'query');
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  const rows = await db.many<AuditRow>(sql`
            select id, type, actor_id, ip, at, details from auth_audit_events
            where 1 = 1
            ${type ? sql`and type = ${type}` : sql.empty}
            ${after ? sql`and (at, id) < (${after.createdAt}, ${after.id})` : sql.empty}
            order by at desc, id desc
            limit ${limit + 1}`);
  // `createdAt` is only there for the cursor of toPage; the contract names it `at`.
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
  return {
    items: page.items.map(({ createdAt: _, ...event }) => event),
    nextCursor: page.nextCursor,
  };
}

/** `/api/v1/audit` of HTTP-API.md. */
export function auditRoute(db: Database): Route {
  return {
    permission: 'audit:read',
    async handle({ query }) {
      return json(200, await auditPage(db, query));
    },
  };
}
