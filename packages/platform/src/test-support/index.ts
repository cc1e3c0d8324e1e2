import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type { Handler, Logger, Middleware } from '@fairmind/core';
import type { BodySource } from '@fairmind/edge';
import { fairmind as expressFairmind, mount as mountExpress } from '@fairmind/express';
import { frameworkErrorHandler, mount as mountFastify } from '@fairmind/fastify';
import { mount as mountHono } from '@fairmind/hono';
import { nodeClientAddress, nodeEncoder } from '@fairmind/hono/node';
import { createNodeBridge, createRequestListener } from '@fairmind/node';
import type { ConformanceTarget } from '@fairmind/testing';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';

/**
 * The same application served by each adapter the way its guide says (docs/adapters.md), so
 * that one test script can hold all four to the same wire behaviour. Not published.
 */

/** A streamed body, written piece by piece in each framework's own idiom. */
export interface StreamedBody {
  readonly type: string;
  readonly pieces: () => AsyncIterable<string>;
}

/** What a target serves: a contract application, plus streamed routes under `/stream/`. */
export interface TestApp {
  readonly middleware: readonly Middleware[];
  readonly handler: Handler<BodySource>;
  readonly logger?: Logger | undefined;
  /** The body for `GET /stream/<name>`, or undefined for a 404 from the handler. */
  readonly stream?: ((name: string) => StreamedBody | undefined) | undefined;
  /** Runs after the server has closed. */
  readonly close?: (() => Promise<void>) | undefined;
}

/** One adapter: serves a {@link TestApp} on a loopback port. */
export interface AdapterTarget {
  readonly name: string;
  start(app: TestApp): Promise<{ base: string; close(): Promise<void> }>;
}

function listening(server: Server): Promise<string> {
  return new Promise((resolve) => {
    const done = () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    if (server.listening) done();
    else server.once('listening', done);
  });
}

/** A listening server as a conformance target's `start()` returns it, closed with `app`. */
export async function started(server: Server, app: Pick<TestApp, 'close'>) {
  return {
    base: await listening(server),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await app.close?.();
    },
  };
}

function streamName(url: string | undefined): string | undefined {
  const match = /^\/stream\/([\w-]+)$/.exec(url ?? '');
  return match?.[1];
}

/** Express and node:http: `res.write()` per piece. */
async function writePieces(res: ServerResponse, body: StreamedBody): Promise<void> {
  res.setHeader('content-type', body.type);
  for await (const piece of body.pieces()) res.write(piece);
  res.end();
}

function nodeStream(app: TestApp, name: string | undefined): StreamedBody | undefined {
  return name === undefined ? undefined : app.stream?.(name);
}

const node: AdapterTarget = {
  name: 'node:http',
  async start(app) {
    const { middleware, handler, logger } = app;
    // Compression as the examples ask for it (the platform's contract compresses bodies over
    // 1024 bytes); the adapters compress only where asked.
    const listener = createRequestListener({ middleware, handler, logger, compression: {} });
    const bridge = createNodeBridge({ middleware, logger, compression: {} });
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const body = nodeStream(app, streamName(req.url));
      if (body === undefined) {
        listener(req, res);
        return;
      }
      void Promise.resolve(bridge(req, res)).then((go) => {
        if (go) return writePieces(res, body);
      });
    }).listen(0, '127.0.0.1');
    return started(server, app);
  },
};

const expressTarget: AdapterTarget = {
  name: 'express',
  async start(app) {
    const { logger } = app;
    const instance = express();
    // A route of its own before the mount, with the adapter's middleware as the guide shows.
    instance.get(
      '/stream/:name',
      expressFairmind({ middleware: app.middleware, logger, compression: {} }),
      (req, res, next) => {
        const body = nodeStream(app, String(req.params['name']));
        if (body === undefined) next();
        else void writePieces(res, body);
      },
    );
    mountExpress(instance, app, { logger, compression: {} });
    return started(instance.listen(0, '127.0.0.1'), app);
  },
};

const fastify: AdapterTarget = {
  name: 'fastify',
  async start(app) {
    const { middleware, handler, logger } = app;
    const instance = Fastify({
      logger: false,
      frameworkErrors: frameworkErrorHandler({ middleware, handler, logger }),
    });
    mountFastify(instance, app, { logger, compression: {} });
    instance.get('/stream/:name', async (request, reply) => {
      const body = app.stream?.((request.params as { name: string }).name);
      if (body === undefined) return reply.callNotFound();
      return reply.type(body.type).send(Readable.from(body.pieces()));
    });
    await instance.listen({ port: 0, host: '127.0.0.1' });
    return started(instance.server, app);
  },
};

const hono: AdapterTarget = {
  name: 'hono',
  async start(app) {
    const instance = new Hono();
    mountHono(instance, app, {
      clientAddress: nodeClientAddress,
      compression: { encoder: nodeEncoder() },
      logger: app.logger,
    });
    instance.get('/stream/:name', (c) => {
      const body = app.stream?.(c.req.param('name'));
      if (body === undefined) return c.notFound();
      const encoder = new TextEncoder();
      const pieces = body.pieces()[Symbol.asyncIterator]();
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            const { done, value } = await pieces.next();
            if (done) controller.close();
            else controller.enqueue(encoder.encode(value));
          },
        }),
        { headers: { 'content-type': body.type } },
      );
    });
    const server = serve({ fetch: instance.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    return started(server, app);
  },
};

/** node:http, Express, Fastify and Hono (on @hono/node-server with `nodeEncoder()`). */
export const adapterTargets: readonly AdapterTarget[] = [node, expressTarget, fastify, hono];

/** Each adapter as a {@link ConformanceTarget} of a fresh application per run. */
export function conformanceTargets(app: () => Promise<TestApp>): ConformanceTarget[] {
  return adapterTargets.map((target) => ({
    name: target.name,
    start: async () => target.start(await app()),
  }));
}
