// What a user of one or two packages writes, compiled in a project that installs only
// @fairmind/core, db-pool, auth and edge with @types/node: no better-sqlite3, no @types/pg,
// no ioredis. A published type that imports any of them fails this compile (TS2307).
import { createAuth, createMemoryUserStore } from '@fairmind/auth';
import { loadConfig } from '@fairmind/core';
import { createDatabase, sql } from '@fairmind/db-pool';
import { rateLimit, securityHeaders } from '@fairmind/edge';

interface Note {
  id: number;
  body: string;
}

export async function main(): Promise<Note[]> {
  const config = loadConfig();
  const db = createDatabase({ url: process.env.DATABASE_URL });
  const auth = createAuth({ secret: process.env.JWT_SECRET, users: createMemoryUserStore() });
  const chain = [
    securityHeaders(),
    rateLimit({ limit: config.rateLimit.requests }),
    auth.authenticate(),
  ];
  void chain;
  return db.many<Note>(sql`select id, body from notes`);
}
