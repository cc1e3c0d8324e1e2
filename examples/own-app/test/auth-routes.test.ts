// The account routes mounted under a prefix of the app's choosing, natively, on each adapter:
// the same answers from Express, Fastify, Hono and node:http.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuth, createMemoryUserStore } from '@fairmind/auth';
import { type AuthRoutes, authRoutes } from '@fairmind/auth/routes';
import { handle as expressHandle } from '@fairmind/express';
import { mount as fastifyMount } from '@fairmind/fastify';
import { handle as honoHandle, use as honoUse, problemHandler } from '@fairmind/hono';
import { createRequestListener } from '@fairmind/node';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { afterAll, describe, expect, it } from 'vitest';

const users = createMemoryUserStore();
const auth = createAuth({ secret: 'auth-routes-test-secret-of-32-characters', users });
const account = authRoutes(auth, { users, prefix: '/account' });
await auth.createUser({ email: 'ada@example.com', password: 'correct horse', role: 'analyst' });
afterAll(() => auth.close());

type Start = (routes: AuthRoutes) => Promise<{ base: string; close(): Promise<void> }>;

function listening(server: Server) {
  return new Promise<{ base: string; close(): Promise<void> }>((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise((done) => server.close(() => done())),
      }),
    );
  });
}

const adapters: Array<[string, Start]> = [
  [
    'Express',
    (routes) => {
      const app = express();
      app.all('/account/*splat', expressHandle(routes.handler));
      return listening(createServer(app));
    },
  ],
  [
    'Fastify',
    async (routes) => {
      const app = Fastify();
      app.register(async (scope) => fastifyMount(scope, routes), { prefix: '/account' });
      const address = await app.listen({ port: 0, host: '127.0.0.1' });
      return { base: address, close: () => app.close() };
    },
  ],
  [
    'Hono',
    (routes) => {
      const app = new Hono();
      app.use(honoUse([]));
      app.onError(problemHandler()); // Hono's way: thrown errors go to onError
      app.all('/account/*', honoHandle(routes.handler));
      return new Promise((resolve) => {
        const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
          resolve({
            base: `http://127.0.0.1:${info.port}`,
            close: () => new Promise((done) => server.close(() => done())),
          }),
        );
      });
    },
  ],
  ['node:http', (routes) => listening(createServer(createRequestListener(routes)))],
];

describe.each(adapters)('the account routes under /account on %s', (_name, start) => {
  it('sign in, answer /me, and answer problems for other paths and methods', async () => {
    const { base, close } = await start(account);
    try {
      const login = await fetch(`${base}/account/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'ada@example.com', password: 'correct horse' }),
      });
      expect(login.status).toBe(200);
      expect(login.headers.get('cache-control')).toBe('no-store');
      const { accessToken } = (await login.json()) as { accessToken: string };
      const me = await fetch(`${base}/account/me`, {
        headers: { authorization: `Bearer ${accessToken}` },
      });
      expect(await me.json()).toMatchObject({ email: 'ada@example.com', role: 'analyst' });
      const anonymous = await fetch(`${base}/account/me`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
      const wrongMethod = await fetch(`${base}/account/login`);
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.headers.get('allow')).toBe('POST');
      const nowhere = await fetch(`${base}/account/nowhere`);
      expect(nowhere.status).toBe(404);
      expect(nowhere.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    } finally {
      await close();
    }
  });
});
