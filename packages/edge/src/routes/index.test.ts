import type { Exchange, Reply } from '@fairmind/core';
import { describe, expect, it } from 'vitest';
import { Router } from '../router/index.js';
import { createRouteHandler, json, type PatternRoute, type Route } from './index.js';

function exchange(method: string, url: string): Exchange {
  return {
    request: { method, url, headers: { get: () => null } },
    clientAddress: '192.0.2.1',
    secure: false,
    state: {},
  };
}

const source = new Request('http://localhost/notes', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: '{"title":"a note"}',
});

const titled = {
  '~standard': {
    version: 1 as const,
    vendor: 'test',
    validate: (value: unknown) => ({ value: value as { title: string } }),
  },
};

function table(routes: Array<[string, string, Route]>, authorize = (): void | Promise<void> => {}) {
  const router = new Router<PatternRoute>();
  for (const [method, pattern, route] of routes) router.add(method, pattern, { ...route, pattern });
  return createRouteHandler({ router, authorize });
}

describe('createRouteHandler', () => {
  it("answers with the route's own promise, its context carrying params, query and body", async () => {
    const answer = Promise.resolve(json(200, { ok: true }));
    let seen: unknown;
    const handler = table([
      [
        'GET',
        '/notes/:id',
        {
          permission: null,
          handle: (context) => {
            seen = { params: context.params, limit: context.query.get('limit') };
            return answer;
          },
        },
      ],
      [
        'POST',
        '/notes',
        {
          permission: null,
          // Taken apart, as from a plain object.
          async handle({ body }) {
            return json(201, await body(titled));
          },
        },
      ],
    ]);
    const found = exchange('GET', '/notes/7?limit=5');
    expect(handler(found, source)).toBe(answer);
    expect(seen).toEqual({ params: { id: '7' }, limit: '5' });
    expect(found.state.route).toBe('/notes/:id');
    expect(await handler(exchange('POST', '/notes'), source)).toMatchObject({
      status: 201,
      body: '{"title":"a note"}',
    });
  });

  it('rejects with 404 and 405 problems, and with what a route throws', async () => {
    const handler = table([
      [
        'GET',
        '/notes',
        {
          permission: null,
          // Plain JavaScript, not async: it throws rather than rejects.
          handle: () => {
            throw new Error('broken route');
          },
        },
      ],
    ]);
    await expect(handler(exchange('GET', '/nothing'), source)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      status: 404,
    });
    await expect(handler(exchange('DELETE', '/notes'), source)).rejects.toMatchObject({
      code: 'METHOD_NOT_ALLOWED',
      headers: { Allow: 'GET' },
    });
    await expect(handler(exchange('GET', '/notes'), source)).rejects.toThrow('broken route');
  });

  it('answers a route of plain JavaScript that returns a reply, not a promise', async () => {
    const reply: Reply = json(200, []);
    const handler = table([
      ['GET', '/notes', { permission: null, handle: (() => reply) as unknown as Route['handle'] }],
    ]);
    expect(await handler(exchange('GET', '/notes'), source)).toBe(reply);
  });

  it('runs the route only once its permission is granted', async () => {
    const granted: string[] = [];
    let allow!: () => void;
    const handler = table(
      [
        [
          'GET',
          '/notes',
          {
            permission: 'notes:read',
            handle: async () => {
              granted.push('handled');
              return json(200, []);
            },
          },
        ],
      ],
      () => new Promise<void>((resolve) => (allow = resolve)),
    );
    const answer = handler(exchange('GET', '/notes'), source);
    await Promise.resolve();
    expect(granted).toEqual([]);
    allow();
    expect(await answer).toMatchObject({ status: 200 });
    expect(granted).toEqual(['handled']);
    const refused = table(
      [['GET', '/notes', { permission: 'notes:write', handle: async () => json(200, []) }]],
      () => {
        throw new Error('refused');
      },
    );
    await expect(refused(exchange('GET', '/notes'), source)).rejects.toThrow('refused');
  });
});
