import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Handler, jsonReply } from '@fairmind/core';
import { createDatabase, type Database, sql } from '@fairmind/db-pool';
import { mount as mountExpress } from '@fairmind/express';
import { mount as mountFastify } from '@fairmind/fastify';
import { mount as mountHono } from '@fairmind/hono';
import { nodeClientAddress } from '@fairmind/hono/node';
import { createRequestListener } from '@fairmind/node';
import { type RecordingLogger, recordingLogger, useTestDatabase } from '@fairmind/testing';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// A user's own handler, not the platform's: its statements break the table's constraints.
const testDb = useTestDatabase();
let db: Database;
beforeAll(async () => {
  db = createDatabase({ url: testDb.url });
  await db.exec('create table items (id serial primary key, name text not null unique)');
  await db.query(sql`insert into items (name) values (${'taken'})`);
});
afterAll(async () => {
  await db?.close();
});

const handler: Handler<unknown> = async (exchange) => {
  const name = exchange.request.url.endsWith('/missing') ? null : 'taken';
  await db.query(sql`insert into items (name) values (${name})`);
  return jsonReply(201, {});
};
const app = { middleware: [], handler };

function listening(server: Server): Promise<string> {
  return new Promise((resolve) => {
    const done = () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    if (server.listening) done();
    else server.once('listening', done);
  });
}

const adapters: Record<string, (logger: RecordingLogger) => Promise<Server>> = {
  'node:http': async (logger) =>
    createServer(createRequestListener({ ...app, logger })).listen(0, '127.0.0.1'),
  express: async (logger) => {
    const server = express();
    mountExpress(server, app, { logger });
    return server.listen(0, '127.0.0.1');
  },
  fastify: async (logger) => {
    const server = Fastify({ logger: false });
    mountFastify(server, app, { logger });
    await server.listen({ port: 0, host: '127.0.0.1' });
    return server.server;
  },
  hono: async (logger) => {
    const server = new Hono();
    mountHono(server, app, { clientAddress: nodeClientAddress, logger });
    return serve({ fetch: server.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  },
};

describe.each(Object.entries(adapters))('a constraint violation in a handler on %s', (_, start) => {
  let server: Server;
  let base: string;
  const logger = recordingLogger();
  beforeAll(async () => {
    server = await start(logger);
    base = await listening(server);
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** POSTs to `path` and checks the problem it answers tells nothing the server said. */
  async function expectProblem(path: string, status: number, code: string, hidden: RegExp) {
    const response = await fetch(`${base}${path}`, { method: 'POST' });
    const text = await response.text();
    expect(response.status).toBe(status);
    expect(JSON.parse(text)).toMatchObject({ status, code, column: 'name' });
    expect(text).not.toMatch(hidden);
    expect(text).not.toMatch(/SQLSTATE|db-pool/);
  }

  it('answers a generic problem naming the column, and logs the server text', async () => {
    await expectProblem(
      '/items/missing',
      400,
      'DB_NOT_NULL_VIOLATION',
      /relation|items|violates|null value/,
    );
    await expectProblem(
      '/items/duplicate',
      409,
      'DB_UNIQUE_VIOLATION',
      /items_name_key|already exists|taken/,
    );

    const logged = logger.warns.map((entry) => String((entry as { err?: Error }).err?.message));
    expect(logged).toEqual([
      expect.stringMatching(/null value in column "name" of relation "items"/),
      expect.stringMatching(/duplicate key value violates unique constraint "items_name_key"/),
    ]);
    expect(logger.errors).toEqual([]);
  });
});
