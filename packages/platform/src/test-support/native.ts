import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  type AuthGuard,
  FairmindError,
  type Logger,
  type Middleware,
  requestPath,
} from '@fairmind/core';
import {
  notFoundHandler as expressNotFound,
  problemHandler as expressProblems,
  use as expressUse,
} from '@fairmind/express';
import {
  notFoundHandler as fastifyNotFound,
  use as fastifyUse,
  guarded,
  problemErrorHandler,
} from '@fairmind/fastify';
import {
  notFoundHandler as honoNotFound,
  problemHandler as honoProblems,
  use as honoUse,
} from '@fairmind/hono';
import {
  exchangeOf,
  notFoundHandler as nodeNotFound,
  problemHandler as nodeProblems,
  use as nodeUse,
} from '@fairmind/node';
import type { ConformanceTarget } from '@fairmind/testing';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { started } from './index.js';

/**
 * A small app of one's own, built in each framework from the native pieces one by one (`use()`,
 * the not-found and error handlers) as docs/adapters.md shows, so that one script can hold the
 * four adapters to the same wire behaviour outside `fairmind()` and `mount()`. Not published.
 */

/** What each target wires natively. Routes: `GET /hello`, `/admin`, `/limited`, `/boom`, `/conflict`. */
export interface NativeApp {
  /** App-wide, each through its own `use()`, in order (request log, security headers, sign-in). */
  readonly everywhere: readonly Middleware[];
  /** The guard of `GET /admin`, which answers with the principal. */
  readonly guard: AuthGuard;
  /** The route middleware of `GET /limited` (a rate limit). */
  readonly limited: Middleware;
  /** Where the error handlers log failures. */
  readonly logger: Logger;
}

const HELLO = { hello: 'world' };
const LIMITED = { limited: false };
// Every framework's JSON gets the same media type: Hono's c.json() would leave the charset off.
const JSON_TYPE = 'application/json; charset=utf-8';

// What a route throws: a bare error (a 500 that says nothing of it) or a FairmindError (its own).
function fail(path: '/boom' | '/conflict'): never {
  if (path === '/boom') throw new Error('database password is hunter2');
  throw new FairmindError('CONFLICT', 409, 'The thing is already there.');
}

const expressTarget = (app: NativeApp) => {
  const instance = express();
  // Express's own extras are not the contract's: no X-Powered-By (use() removes it anyway), and
  // no ETag, which Express computes for every res.json() body.
  instance.disable('x-powered-by');
  instance.disable('etag');
  for (const middleware of app.everywhere) instance.use(expressUse(middleware));
  instance.get('/hello', (_req, res) => res.json(HELLO));
  instance.get('/admin', expressUse(app.guard), (req, res) => {
    res.json({ id: req.auth.id, role: req.auth.role });
  });
  instance.get('/limited', expressUse(app.limited), (_req, res) => res.json(LIMITED));
  instance.get('/boom', () => fail('/boom'));
  instance.get('/conflict', () => fail('/conflict'));
  instance.use(expressNotFound);
  instance.use(expressProblems({ logger: app.logger }));
  return started(instance.listen(0, '127.0.0.1'), {});
};

const fastifyTarget = async (app: NativeApp) => {
  const instance = Fastify({ logger: false });
  for (const middleware of app.everywhere) instance.addHook('onRequest', fastifyUse(middleware));
  instance.setErrorHandler(problemErrorHandler({ logger: app.logger }));
  instance.setNotFoundHandler(fastifyNotFound);
  instance.get('/hello', async () => HELLO);
  instance.get(
    '/admin',
    guarded(app.guard, async (request) => ({ id: request.auth.id, role: request.auth.role })),
  );
  instance.get('/limited', { onRequest: fastifyUse(app.limited) }, async () => LIMITED);
  instance.get('/boom', async () => fail('/boom'));
  instance.get('/conflict', async () => fail('/conflict'));
  await instance.listen({ port: 0, host: '127.0.0.1' });
  return started(instance.server, {});
};

const honoTarget = (app: NativeApp) => {
  const instance = new Hono();
  // On @hono/node-server, use() takes the socket peer by itself.
  for (const middleware of app.everywhere) instance.use(honoUse(middleware));
  const json = (body: object) =>
    new Response(JSON.stringify(body), { headers: { 'content-type': JSON_TYPE } });
  instance.get('/hello', () => json(HELLO));
  instance.get('/admin', honoUse(app.guard), (c) =>
    json({ id: c.get('auth').id, role: c.get('auth').role }),
  );
  instance.get('/limited', honoUse(app.limited), () => json(LIMITED));
  instance.get('/boom', () => fail('/boom'));
  instance.get('/conflict', () => fail('/conflict'));
  instance.notFound(honoNotFound);
  instance.onError(honoProblems({ logger: app.logger }));
  return started(serve({ fetch: instance.fetch, port: 0, hostname: '127.0.0.1' }) as Server, {});
};

function nodeListener(app: NativeApp) {
  const everywhere = app.everywhere.map((middleware) => nodeUse(middleware));
  const guard = nodeUse(app.guard);
  const limited = nodeUse(app.limited);
  const problems = nodeProblems({ logger: app.logger });
  const json = (res: ServerResponse, body: object) => {
    res.writeHead(200, { 'content-type': JSON_TYPE }).end(JSON.stringify(body));
  };
  const route = async (req: IncomingMessage, res: ServerResponse) => {
    for (const step of everywhere) if (!(await step(req, res))) return;
    const path = req.method === 'GET' ? requestPath(req.url ?? '/') : '';
    if (path === '/hello') return json(res, HELLO);
    if (path === '/admin') {
      if (!(await guard(req, res))) return;
      // node:http has no handler to type: the state is the contract's, read through exchangeOf.
      const auth = exchangeOf(req)?.state.auth;
      return json(res, { id: auth?.id, role: auth?.role });
    }
    if (path === '/limited') return (await limited(req, res)) && json(res, LIMITED);
    if (path === '/boom' || path === '/conflict') fail(path);
    nodeNotFound(req, res);
  };
  return (req: IncomingMessage, res: ServerResponse) => {
    route(req, res).catch((error: unknown) => problems(error, req, res));
  };
}

const builders: ReadonlyArray<[string, (app: NativeApp) => ReturnType<typeof started>]> = [
  ['node:http', (app) => started(createServer(nodeListener(app)).listen(0, '127.0.0.1'), {})],
  ['express', expressTarget],
  ['fastify', fastifyTarget],
  ['hono', honoTarget],
];

/** Each adapter as a {@link ConformanceTarget} of a fresh {@link NativeApp} per run. */
export function nativeTargets(app: () => NativeApp): ConformanceTarget[] {
  return builders.map(([name, build]) => ({ name, start: () => build(app()) }));
}
