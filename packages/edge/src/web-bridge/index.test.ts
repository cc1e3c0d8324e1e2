import { EventEmitter } from 'node:events';
import {
  type Decision,
  FairmindError,
  type FinishInfo,
  type Middleware,
  silentLogger,
} from '@fairmind/core';
import { webExchange } from '@fairmind/core/adapter';
import { describe, expect, it } from 'vitest';
import { createResponseCompression, type NodeAttach } from '../web/index.js';
import { createWebBridge, observeResponse, type WebPass } from './index.js';

const headers: Middleware = () => ({ headers: { vary: 'Origin', 'x-frame-options': 'DENY' } });
const big = 'lorem ipsum '.repeat(200);

function pass(request: Request, next: () => Promise<Response>, env?: unknown) {
  const seen: Decision[] = [];
  const finished: FinishInfo[] = [];
  const value: WebPass = {
    exchange: webExchange(request, '192.0.2.1'),
    env,
    startedAt: performance.now(),
    decided: (decision) => {
      seen.push(decision);
      decision.onFinish.push((info) => finished.push(info));
    },
    next,
  };
  return { pass: value, seen, finished };
}

describe('createWebBridge', () => {
  const bridge = createWebBridge({
    pkg: '@fairmind/x',
    chain: [headers],
    logger: silentLogger,
    compress: createResponseCompression(),
    lift: (error) => error,
  });

  it("puts the chain's headers on the application's response, compresses and reports it", async () => {
    const request = new Request('http://h/big', { headers: { 'accept-encoding': 'gzip' } });
    const app = async () => new Response(big, { headers: { vary: 'Cookie' } });
    const run = pass(request, app);
    const response = await bridge(run.pass);
    expect(run.seen).toHaveLength(1);
    expect(response.headers.get('vary')).toBe('Origin, Cookie, Accept-Encoding');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('content-encoding')).toBe('gzip');
    expect(run.finished).toEqual([]);
    const bytes = (await response.arrayBuffer()).byteLength;
    expect(run.finished).toMatchObject([{ status: 200, bytes, aborted: false }]);
  });

  it("answers with a middleware's reply without running the application", async () => {
    const deny: Middleware = () => {
      throw new FairmindError('FORBIDDEN', 403, 'No.');
    };
    const denying = createWebBridge({
      pkg: '@fairmind/x',
      chain: [headers, deny],
      logger: silentLogger,
      compress: undefined,
      lift: (error) => error,
    });
    const response = await denying(
      pass(new Request('http://h/'), () => Promise.reject(new Error('ran'))).pass,
    );
    expect(response.status).toBe(403);
    expect(response.headers.get('x-frame-options')).toBe('DENY');
  });

  it('answers what the application threw with a lifted problem', async () => {
    const lifting = createWebBridge({
      pkg: '@fairmind/x',
      chain: [],
      logger: silentLogger,
      compress: undefined,
      lift: () => new FairmindError('CONFLICT', 409, 'Taken.'),
    });
    const response = await lifting(
      pass(new Request('http://h/'), () => Promise.reject(new Error('x'))).pass,
    );
    expect(response.status).toBe(409);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
  });

  it('compresses and reports at the Node response when the server hands it over', async () => {
    const attached: unknown[] = [];
    const attach: NodeAttach = (incoming, outgoing) => attached.push(incoming, outgoing);
    const compress = Object.assign(async (_request: unknown, response: Response) => response, {
      node: attach,
    });
    const node = createWebBridge({
      pkg: '@fairmind/x',
      chain: [headers],
      logger: silentLogger,
      compress,
      lift: (error) => error,
    });
    const incoming = { complete: true, socket: null };
    const outgoing = Object.assign(new EventEmitter(), {
      statusCode: 200,
      getHeader: () => '5',
      writableFinished: true,
    });
    const run = pass(new Request('http://h/'), async () => new Response('hello'), {
      incoming,
      outgoing,
    });
    const response = await node(run.pass);
    expect(attached).toEqual([incoming, outgoing]);
    expect(await response.text()).toBe('hello');
    expect(run.finished).toEqual([]);
    outgoing.emit('finish');
    expect(run.finished).toMatchObject([{ status: 200, bytes: 5, aborted: false }]);
  });
});

describe('observeResponse', () => {
  it('reports a HEAD response at once, its body unread', () => {
    const finished: FinishInfo[] = [];
    const response = new Response('body');
    const observed = observeResponse(response, 'HEAD', [(info) => finished.push(info)], 0);
    expect(observed).toBe(response);
    expect(finished).toMatchObject([{ status: 200, bytes: 0, aborted: false }]);
  });
});
