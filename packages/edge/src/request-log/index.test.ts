import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { FairmindError, type Middleware } from '@fairmind/core';
import { createLogger } from '@fairmind/core/logger';
import { createMetricsRegistry } from '@fairmind/core/metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { rawRequest, serveNode, type TestServer } from '../test-support/index.js';
import { isValidRequestId, type RequestLogOptions, requestLog } from './index.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

type Line = Record<string, unknown> & { level: number; msg: string };

function capture() {
  const lines: Line[] = [];
  const logger = createLogger({
    level: 'info',
    destination: { write: (text: string) => void lines.push(JSON.parse(text) as Line) },
  });
  return { lines, logger };
}

async function waitFor(lines: Line[], count: number): Promise<void> {
  for (let poll = 0; poll < 200 && lines.length < count; poll++) await sleep(5);
}

async function serve(options: RequestLogOptions, extra: Middleware[] = []): Promise<string> {
  server = await serveNode([requestLog(options), ...extra], async (req, res, exchange) => {
    if (req.url?.startsWith('/missing'))
      throw new FairmindError('NOT_FOUND', 404, 'No such model.');
    if (req.url?.startsWith('/crash')) throw new Error('boom');
    if (req.url?.startsWith('/slow')) {
      res.write('partial');
      await sleep(5_000);
      res.end();
      return;
    }
    const body = JSON.stringify({ requestId: exchange.state.requestId });
    res.setHeader('content-type', 'application/json');
    // As frameworks do; without it, core's observeFinish counts socket bytes, headers included.
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(body);
  });
  return server.url;
}

describe('request ids', () => {
  it('keeps a valid X-Request-Id, replaces anything else with a UUID, and echoes it', async () => {
    const { lines, logger } = capture();
    const url = await serve({ logger });
    const kept = await rawRequest(url, { headers: { 'x-request-id': 'req:42.a_b-C' } });
    expect(kept.headers['x-request-id']).toBe('req:42.a_b-C');
    expect(JSON.parse(kept.body.toString())).toEqual({ requestId: 'req:42.a_b-C' });
    for (const bad of ['a b', 'x'.repeat(129), 'id;drop', 'é']) {
      const replaced = await rawRequest(url, { headers: { 'x-request-id': bad } });
      const id = replaced.headers['x-request-id'] as string;
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(JSON.parse(replaced.body.toString())).toEqual({ requestId: id });
    }
    const fresh = await rawRequest(url);
    expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(lines, 6);
    expect(lines[0]?.['requestId']).toBe('req:42.a_b-C');
    expect(isValidRequestId('x'.repeat(128))).toBe(true);
    expect(isValidRequestId('')).toBe(false);
    expect(isValidRequestId(null)).toBe(false);
  });
});

describe('the log line', () => {
  it('is one JSON line per request with id, method, path, status, time, bytes and IP', async () => {
    const { lines, logger } = capture();
    const url = await serve({ logger, trustedProxies: 'loopback' });
    const response = await rawRequest(`${url}/api/v1/models?token=secret`, {
      headers: { 'x-forwarded-for': '203.0.113.7', 'user-agent': 'tests/1.0' },
    });
    await waitFor(lines, 1);
    expect(lines).toHaveLength(1);
    const line = lines[0] as Line;
    expect(line).toMatchObject({
      level: 30,
      requestId: response.headers['x-request-id'],
      method: 'GET',
      path: '/api/v1/models',
      status: 200,
      bytes: response.body.length,
      ip: '203.0.113.7',
      headers: { 'user-agent': 'tests/1.0' },
      msg: '[@fairmind/edge] GET /api/v1/models 200',
    });
    expect(typeof line['responseTimeMs']).toBe('number');
    expect(line['responseTimeMs']).toBeGreaterThanOrEqual(0);
    expect(JSON.stringify(line)).not.toContain('secret');
  });

  it("writes through createLogger's own line writer the same fields any other logger gets", async () => {
    const fast = capture();
    const plain: { level: string; line: Record<string, unknown>; msg: string }[] = [];
    const record = (level: string) => (line: object, msg?: string) =>
      void plain.push({ level, line: line as Record<string, unknown>, msg: msg ?? '' });
    const other = {
      info: record('info'),
      warn: record('warn'),
      error: record('error'),
      debug: record('debug'),
      child: () => other,
    };
    const log = [requestLog({ logger: fast.logger }), requestLog({ logger: other })];
    server = await serveNode(log, async (_req, res) => {
      res.statusCode = 404;
      res.end('gone');
    });
    const agent = 'tests "quoted" \\ ünïcode';
    await rawRequest(`${server.url}/api/v1/"odd"/path%22`, {
      headers: { 'user-agent': agent, 'x-request-id': 'same-id' },
    });
    await waitFor(fast.lines, 1);
    const [line] = fast.lines;
    const [seen] = plain;
    expect(seen?.level).toBe('warn');
    expect(line).toMatchObject({ level: 40, msg: seen?.msg, headers: { 'user-agent': agent } });
    const {
      level: _level,
      time: _time,
      pid: _pid,
      hostname: _host,
      name: _name,
      msg: _msg,
      ...fields
    } = line as Line;
    // The two middlewares time the request from different moments.
    expect({ ...fields, responseTimeMs: 0 }).toEqual({ ...seen?.line, responseTimeMs: 0 });
  });

  it('logs 5xx at error and 4xx at warn', async () => {
    const { lines, logger } = capture();
    const url = await serve({ logger });
    await rawRequest(`${url}/missing`);
    await rawRequest(`${url}/crash`);
    await rawRequest(`${url}/ok`);
    await waitFor(lines, 3);
    expect(lines.map((line) => [line['status'], line.level])).toEqual([
      [404, 40],
      [500, 50],
      [200, 30],
    ]);
  });

  it('logs a request the client abandoned', async () => {
    const { lines, logger } = capture();
    const url = await serve({ logger });
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${url}/slow`, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.end();
    });
    await waitFor(lines, 1);
    expect(lines[0]).toMatchObject({ level: 40, path: '/slow', aborted: true });
    expect(lines[0]?.msg).toBe('[@fairmind/edge] GET /slow aborted by the client');
  });

  it('redacts credentials among the logged headers, whatever the logger does', async () => {
    const lines: Line[] = [];
    // A logger without any redaction of its own.
    const plain = {
      info: (obj: object) => void lines.push(obj as Line),
      warn: (obj: object) => void lines.push(obj as Line),
      error: (obj: object) => void lines.push(obj as Line),
      debug: () => {},
      child() {
        return plain;
      },
    };
    const url = await serve({
      logger: plain,
      headers: [
        'authorization',
        'cookie',
        'set-cookie',
        'x-api-key',
        'proxy-authorization',
        'x-secret',
        'accept',
      ],
      redact: ['X-Secret'],
    });
    await rawRequest(url, {
      headers: {
        authorization: 'Bearer eyJhbGciOi.payload.sig',
        cookie: 'session=abc',
        'set-cookie': 'a=b',
        'x-api-key': 'fm_live_123',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        'x-secret': 'hunter2',
        accept: 'application/json',
      },
    });
    await waitFor(lines, 1);
    expect(lines[0]?.['headers']).toEqual({
      authorization: '[redacted]',
      cookie: '[redacted]',
      'set-cookie': '[redacted]',
      'x-api-key': '[redacted]',
      'proxy-authorization': '[redacted]',
      'x-secret': '[redacted]',
      accept: 'application/json',
    });
  });

  it('can log the query, and skip requests', async () => {
    const { lines, logger } = capture();
    const url = await serve({
      logger,
      query: true,
      skip: (exchange) => exchange.request.url.startsWith('/health'),
    });
    const skipped = await rawRequest(`${url}/health/live`);
    expect(skipped.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    await rawRequest(`${url}/api?limit=5#frag`);
    await waitFor(lines, 1);
    await sleep(20);
    expect(lines.map((line) => line['path'])).toEqual(['/api?limit=5']);
  });
});

describe('metrics', () => {
  it('observes http_request_duration_seconds by method, route and status', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const url = await serve({
      registry,
      route: (exchange) => (exchange.request.url.startsWith('/missing') ? '/missing' : '/other'),
    });
    await rawRequest(`${url}/missing`);
    await rawRequest(`${url}/ok`);
    await rawRequest(`${url}/ok`);
    await sleep(20);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
    expect(text).toContain(
      'http_request_duration_seconds_count{method="GET",route="/missing",status_code="404"} 1',
    );
    expect(text).toContain(
      'http_request_duration_seconds_count{method="GET",route="/other",status_code="200"} 2',
    );
  });
});

describe('options', () => {
  it('refuses bad options by name', () => {
    expect(() => requestLog({ logger: {} as never })).toThrow(
      /logger must have info, warn and error/,
    );
    expect(() => requestLog({ buckets: [1, 0.5] })).toThrow(/buckets must be increasing/);
    expect(() => requestLog({ headers: 'user-agent, accept' as never })).not.toThrow();
    expect(() => requestLog({ headers: [''] })).toThrow(
      /headers must be a list of non-empty strings/,
    );
    expect(() => requestLog({ route: '/x' as never })).toThrow(/route must be a function/);
    expect(() => requestLog({ query: 'yes' as never })).toThrow(/query must be true or false/);
  });
});
