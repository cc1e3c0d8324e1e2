import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { terminateBackends } from './database.js';
import { pg } from './deps.js';
import { useTestDatabase } from './hooks.js';
import { type RedisServer, startRedisServer } from './redis-server.js';
import { type ServerProcess, startServer } from './server.js';
import { testingError } from './util.js';

const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' };

interface Session {
  accessToken: string;
  refreshToken: string;
}

function client(base: string) {
  async function call(
    method: string,
    path: string,
    options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
  ) {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers['authorization'] = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] ??= 'application/json';
    const response = await fetch(`${base}${path}`, {
      method,
      headers,
      ...(options.body === undefined
        ? {}
        : { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return {
      status: response.status,
      headers: response.headers,
      text,
      json: json as Record<string, unknown> & Array<unknown>,
    };
  }
  return {
    call,
    async login(email: string, password: string): Promise<Session> {
      const response = await call('POST', '/auth/login', { body: { email, password } });
      expect(response.status).toBe(200);
      return response.json as unknown as Session;
    },
  };
}

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

/**
 * Sends raw bytes on a fresh connection and reads the answer until the server closes it (or
 * 5 s pass): for requests no HTTP client would send.
 */
function rawExchange(port: number, request: string): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      let parsed: unknown = body;
      try {
        parsed = JSON.parse(body);
      } catch {
        // not JSON: compared as text
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: parsed });
    });
    socket.write(request, 'latin1');
  });
}

const modes = [
  { name: 'SQLite + memory', postgres: false },
  { name: 'PostgreSQL + Redis', postgres: true },
] as const;

// The example's package name (example-express, ...), for the test titles.
function exampleName(root: string): string {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    name?: unknown;
  };
  if (typeof manifest.name !== 'string') {
    throw testingError(`${join(root, 'package.json')} has no name: is ${root} an example folder?`);
  }
  return manifest.name;
}

/**
 * The end-to-end contract of the FairMind platform (HTTP-API.md), written once and run against
 * every example server: each example's test file calls {@link describePlatformContract} with
 * its own folder, and the suite starts that example's `src/main.ts` as a child process, on
 * SQLite + memory and on PostgreSQL + Redis, and walks the whole API over HTTP. The same
 * assertions for Express, Fastify and Hono are what make the adapters interchangeable.
 *
 * @example
 * ```ts
 * // examples/fastify/test/platform.test.ts
 * import { dirname, join } from 'node:path';
 * import { fileURLToPath } from 'node:url';
 * import { describePlatformContract } from '@fairmind/testing';
 *
 * describePlatformContract(join(dirname(fileURLToPath(import.meta.url)), '..'));
 * ```
 */
export function describePlatformContract(exampleRoot: string): void {
  const example = exampleName(exampleRoot);
  const pgDatabase = useTestDatabase();

  describe.each(modes)(`${example} on $name`, ({ postgres }) => {
    let server: ServerProcess;
    let redis: RedisServer | undefined;
    let dataDir: string;
    let api: ReturnType<typeof client>;
    let admin: Session;

    beforeAll(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'fm-e2e-'));
      if (postgres) redis = await startRedisServer();
      server = await startServer({
        script: 'src/main.ts',
        cwd: exampleRoot,
        env: {
          NODE_ENV: 'test',
          LOG_LEVEL: 'warn',
          DATABASE_URL: postgres ? pgDatabase.url : `sqlite:${join(dataDir, 'fm.db')}`,
          REDIS_URL: redis?.url,
          FAIRMIND_ADMIN_EMAIL: ADMIN.email,
          FAIRMIND_ADMIN_PASSWORD: ADMIN.password,
        },
      });
      api = client(server.base);
      admin = await api.login(ADMIN.email, ADMIN.password);
    });

    afterAll(async () => {
      await server?.stop('SIGKILL');
      await redis?.stop();
      await rm(dataDir, { recursive: true, force: true });
    });

    it('reports health in the mode it runs in', async () => {
      const health = await api.call('GET', '/health');
      expect(health.status).toBe(200);
      expect(health.json).toMatchObject({
        status: 'ok',
        checks: {
          database: { status: 'ok', driver: postgres ? 'postgres' : 'sqlite' },
          cache: { status: 'ok', mode: postgres ? 'redis' : 'memory' },
        },
      });
      expect((await api.call('GET', '/health/ready')).status).toBe(200);
      expect((await api.call('GET', '/health/live')).json).toEqual({ status: 'ok' });
    });

    it('serves metrics in the Prometheus text format', async () => {
      const metrics = await api.call('GET', '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(metrics.text).toMatch(/^# HELP /m);
      expect(metrics.text).toContain('http_request_duration_seconds_bucket');
      expect(metrics.text).toContain('fairmind_db_pool_connections');
      for (const line of metrics.text.split('\n')) {
        if (line === '' || line.startsWith('#')) continue;
        expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eE]+|NaN|[+-]Inf$/);
      }
    });

    it('sends the security headers, a request id and the rate-limit headers', async () => {
      const response = await api.call('GET', '/auth/me', {
        token: admin.accessToken,
        headers: { 'x-request-id': 'trace-123' },
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-request-id')).toBe('trace-123');
      expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('x-powered-by')).toBeNull();
      expect(response.headers.get('ratelimit-policy')).toBe('"default";q=1000;w=60');
      expect(response.headers.get('ratelimit')).toMatch(/^"default";r=\d+;t=\d+$/);
      const bad = await api.call('GET', '/health/live', {
        headers: { 'x-request-id': 'no spaces allowed' },
      });
      expect(bad.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(bad.headers.get('ratelimit')).toBeNull();
      const missing = await api.call('GET', '/nope');
      expect(missing.status).toBe(404);
      expect(missing.headers.get('x-frame-options')).toBe('DENY');
    });

    it('refreshes, detects reuse, and logs out', async () => {
      const session = await api.login(ADMIN.email, ADMIN.password);
      const refreshed = await api.call('POST', '/auth/refresh', {
        body: { refreshToken: session.refreshToken },
      });
      expect(refreshed.status).toBe(200);
      const next = refreshed.json as unknown as Session;
      const reused = await api.call('POST', '/auth/refresh', {
        body: { refreshToken: session.refreshToken },
      });
      expect(reused.status).toBe(401);
      expect(reused.json).toMatchObject({ code: 'REFRESH_TOKEN_REUSED' });
      expect((await api.call('GET', '/auth/me', { token: next.accessToken })).status).toBe(401);

      const other = await api.login(ADMIN.email, ADMIN.password);
      expect((await api.call('POST', '/auth/logout', { token: other.accessToken })).status).toBe(
        204,
      );
      const after = await api.call('GET', '/auth/me', { token: other.accessToken });
      expect(after.status).toBe(401);
      expect(after.headers.get('www-authenticate')).toMatch(/^Bearer/);
    });

    it('keeps tokens and authenticated answers out of shared caches', async () => {
      // RFC 6749 section 5.1: token responses must not be stored by any cache.
      const login = await api.call('POST', '/auth/login', { body: ADMIN });
      expect(login.headers.get('cache-control')).toBe('no-store');
      const refreshed = await api.call('POST', '/auth/refresh', {
        body: { refreshToken: (login.json as unknown as Session).refreshToken },
      });
      expect(refreshed.status).toBe(200);
      expect(refreshed.headers.get('cache-control')).toBe('no-store');
      const token = admin.accessToken;
      for (const path of ['/auth/me', '/api/v1/models', '/api/v1/dashboard', '/api/v1/nope']) {
        const response = await api.call('GET', path, { token });
        expect(response.headers.get('cache-control'), path).toBe('private, no-cache');
      }
      // The API key is shown this once: the route asks for no-store.
      const key = await api.call('POST', '/auth/api-keys', { token, body: { name: 'cache' } });
      expect(key.headers.get('cache-control')).toBe('no-store');
      // Anonymous answers say nothing: there is nothing private in them.
      expect((await api.call('GET', '/health')).headers.get('cache-control')).toBeNull();
    });

    it('refuses wrong credentials the same way for unknown and known emails', async () => {
      const wrong = await api.call('POST', '/auth/login', {
        body: { email: ADMIN.email, password: 'not-the-password' },
      });
      const unknown = await api.call('POST', '/auth/login', {
        body: { email: 'ghost@example.com', password: 'whatever-123' },
      });
      expect(wrong.status).toBe(401);
      expect(unknown.status).toBe(401);
      expect(wrong.json).toMatchObject({ code: 'INVALID_CREDENTIALS' });
      expect(unknown.json).toMatchObject({ code: 'INVALID_CREDENTIALS' });
    });

    it('manages users and enforces RBAC', async () => {
      const created = await api.call('POST', '/auth/users', {
        token: admin.accessToken,
        body: {
          email: `viewer-${postgres}@example.com`,
          password: 'viewer-password',
          role: 'viewer',
        },
      });
      expect(created.status).toBe(201);
      expect(created.json).toMatchObject({
        email: `viewer-${postgres}@example.com`,
        role: 'viewer',
      });
      expect(created.text).not.toContain('password');
      const duplicate = await api.call('POST', '/auth/users', {
        token: admin.accessToken,
        body: {
          email: `viewer-${postgres}@example.com`,
          password: 'viewer-password',
          role: 'viewer',
        },
      });
      expect(duplicate.status).toBe(409);
      const tooLong = await api.call('POST', '/auth/users', {
        token: admin.accessToken,
        body: { email: 'long@example.com', password: 'x'.repeat(73), role: 'viewer' },
      });
      expect(tooLong.status).toBe(400);

      const viewer = await api.login(`viewer-${postgres}@example.com`, 'viewer-password');
      const me = await api.call('GET', '/auth/me', { token: viewer.accessToken });
      expect(me.json).toMatchObject({
        role: 'viewer',
        permissions: ['models:read', 'assessments:read', 'dashboard:read'],
      });
      expect((await api.call('GET', '/api/v1/models', { token: viewer.accessToken })).status).toBe(
        200,
      );
      const denied = await api.call('POST', '/api/v1/models', {
        token: viewer.accessToken,
        body: { name: 'x', version: '1', riskLevel: 'low' },
      });
      expect(denied.status).toBe(403);
      expect(denied.json).toMatchObject({ code: 'FORBIDDEN' });
      expect((await api.call('GET', '/api/v1/audit', { token: viewer.accessToken })).status).toBe(
        403,
      );
      expect((await api.call('GET', '/api/v1/models')).status).toBe(401);
    });

    it('issues API keys that act within their scopes', async () => {
      const created = await api.call('POST', '/auth/api-keys', {
        token: admin.accessToken,
        body: { name: 'ci', scopes: ['models:read'] },
      });
      expect(created.status).toBe(201);
      const key = created.json['key'] as string;
      expect(created.json).toMatchObject({ name: 'ci', scopes: ['models:read'] });
      const listed = await api.call('GET', '/api/v1/models', { headers: { 'x-api-key': key } });
      expect(listed.status).toBe(200);
      const write = await api.call('POST', '/api/v1/models', {
        headers: { 'x-api-key': key },
        body: { name: 'x', version: '1', riskLevel: 'low' },
      });
      expect(write.status).toBe(403);
      const keys = await api.call('GET', '/auth/api-keys', { token: admin.accessToken });
      expect(keys.text).not.toContain(key);
      const id = created.json['id'] as string;
      expect(
        (await api.call('DELETE', `/auth/api-keys/${id}`, { token: admin.accessToken })).status,
      ).toBe(204);
      expect(
        (await api.call('GET', '/api/v1/models', { headers: { 'x-api-key': key } })).status,
      ).toBe(401);
    });

    it('keeps models, assessments and a fresh dashboard', async () => {
      const token = admin.accessToken;
      const before = (await api.call('GET', '/api/v1/dashboard', { token })).json as unknown as {
        models: { total: number };
      };
      const model = await api.call('POST', '/api/v1/models', {
        token,
        body: {
          name: 'Loan approval',
          version: '2.1',
          riskLevel: 'high',
          description: 'credit decisions',
        },
      });
      expect(model.status).toBe(201);
      const id = model.json['id'] as string;
      const dashboard = await api.call('GET', '/api/v1/dashboard', { token });
      expect(dashboard.json).toMatchObject({ models: { total: before.models.total + 1 } });
      const assessment = await api.call('POST', `/api/v1/models/${id}/assessments`, {
        token,
        body: { metric: 'disparate_impact', value: 0.85, threshold: 0.8 },
      });
      expect(assessment.status).toBe(201);
      expect(assessment.json).toMatchObject({ modelId: id, passed: true });
      const list = await api.call('GET', `/api/v1/models/${id}/assessments`, { token });
      expect(list.json).toMatchObject({ items: [{ id: assessment.json['id'] }], nextCursor: null });
      const patched = await api.call('PATCH', `/api/v1/models/${id}`, {
        token,
        body: { riskLevel: 'low' },
      });
      expect(patched.json).toMatchObject({ riskLevel: 'low', name: 'Loan approval' });
      const fresh = await api.call('GET', '/api/v1/dashboard', { token });
      expect(
        (fresh.json as unknown as { assessments: { total: number } }).assessments.total,
      ).toBeGreaterThanOrEqual(1);
      expect((await api.call('DELETE', `/api/v1/models/${id}`, { token })).status).toBe(204);
      expect((await api.call('GET', `/api/v1/models/${id}`, { token })).status).toBe(404);
      const gone = await api.call('GET', '/api/v1/dashboard', { token });
      expect(gone.json).toMatchObject({ models: { total: before.models.total } });
    });

    it('compresses large responses', async () => {
      const token = admin.accessToken;
      for (let index = 0; index < 12; index++) {
        await api.call('POST', '/api/v1/models', {
          token,
          body: {
            name: `bulk model ${index}`,
            version: '1.0.0',
            riskLevel: 'medium',
            description: 'x'.repeat(60),
          },
        });
      }
      const response = await fetch(`${server.base}/api/v1/models?limit=50`, {
        headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'br' },
      });
      expect(response.headers.get('content-encoding')).toBe('br');
      expect(response.headers.get('vary')).toMatch(/Accept-Encoding/i);
      expect(((await response.json()) as { items: unknown[] }).items.length).toBeGreaterThanOrEqual(
        12,
      );
    });

    it('records an audit trail without secrets', async () => {
      const audit = await api.call('GET', '/api/v1/audit?limit=100', { token: admin.accessToken });
      expect(audit.status).toBe(200);
      const types = (audit.json['items'] as Array<{ type: string }>).map((event) => event.type);
      expect(types).toEqual(expect.arrayContaining(['login.success', 'login.failure']));
      expect(audit.text).not.toContain(ADMIN.password);
      expect(audit.text).not.toContain(admin.accessToken);
      const filtered = await api.call('GET', '/api/v1/audit?type=login.failure', {
        token: admin.accessToken,
      });
      expect(
        (filtered.json['items'] as Array<{ type: string }>).every(
          (event) => event.type === 'login.failure',
        ),
      ).toBe(true);
    });

    it('answers what the HTTP parser refuses with a logged problem document', async () => {
      const cases: Array<[string, string, number, string]> = [
        ['bad method', 'G@T / HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'MALFORMED_REQUEST'],
        ['bad header name', 'GET / HTTP/1.1\r\nBad Name: x\r\n\r\n', 400, 'MALFORMED_REQUEST'],
        [
          'Content-Length with Transfer-Encoding',
          'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n' +
            'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
          400,
          'MALFORMED_REQUEST',
        ],
        [
          'bad chunk size',
          'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
            'Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
          400,
          'MALFORMED_REQUEST',
        ],
        [
          'headers over 16 KiB',
          `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`,
          431,
          'HEADERS_TOO_LARGE',
        ],
        [
          'unknown Expect',
          'GET /health/live HTTP/1.1\r\nHost: x\r\nExpect: bananas\r\n\r\n',
          417,
          'EXPECTATION_FAILED',
        ],
      ];
      for (const [name, request, status, code] of cases) {
        const answer = await rawExchange(server.port, request);
        expect.soft(answer.status, name).toBe(status);
        expect.soft(answer.headers['content-type'], name).toBe('application/problem+json');
        expect.soft(answer.headers['x-frame-options'], name).toBe('DENY');
        expect
          .soft(answer.headers['content-security-policy'], name)
          .toContain("default-src 'self'");
        expect.soft(answer.headers['connection'], name).toBe('close');
        const requestId = answer.headers['x-request-id'] ?? '';
        expect.soft(requestId, name).toMatch(/^[0-9a-f-]{36}$/);
        expect.soft(answer.body, name).toMatchObject({ status, code });
        // The request log's line (4xx at warn) carries the same id.
        let logged = false;
        for (let attempt = 0; attempt < 50 && !logged; attempt++) {
          logged = server.output().includes(`"requestId":"${requestId}"`);
          if (!logged) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect.soft(logged, `${name}: a log line with ${requestId}`).toBe(true);
      }
      expect((await api.call('GET', '/health/live')).status).toBe(200);
    });

    it('answers bad requests of every kind with a 4xx problem and keeps serving', async () => {
      const token = admin.accessToken;
      const cases: Array<[string, string, Parameters<typeof api.call>[2]]> = [
        ['POST', '/api/v1/models', { token, body: '{"name": "x", ' }],
        ['POST', '/api/v1/models', { token, body: { name: 5, version: '1', riskLevel: 'low' } }],
        [
          'POST',
          '/api/v1/models',
          { token, body: { name: 'x', version: '1', riskLevel: 'low', extra: true } },
        ],
        ['POST', '/api/v1/models', { token, body: { version: '1' } }],
        ['POST', '/api/v1/models', { token, body: 'x'.repeat(1_100_000) }],
        [
          'POST',
          '/api/v1/models',
          {
            token,
            body: { name: 'x', version: '1', riskLevel: 'low' },
            headers: { 'content-type': 'text/plain' },
          },
        ],
        ['GET', "/api/v1/models/1' OR '1'='1", { token }],
        ['GET', `/api/v1/models/${'x'.repeat(500)}`, { token }],
        ['GET', '/api/v1/models?limit=0', { token }],
        ['GET', '/api/v1/models?limit=abc', { token }],
        ['GET', '/api/v1/models?cursor=not-a-cursor', { token }],
        ['GET', '/api/v1/models', { headers: { authorization: 'Bearer not.a.jwt' } }],
        ['GET', '/api/v1/models', { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } }],
        ['GET', '/api/v1/models', { headers: { 'x-api-key': "'; drop table models; --" } }],
        ['PUT', '/api/v1/models', { token }],
        ['POST', '/auth/login', { body: { email: "' OR 1=1 --", password: 'x' } }],
        ['POST', '/auth/login', { body: [] }],
        ['POST', '/auth/refresh', { body: { refreshToken: 'garbage' } }],
      ];
      for (const [method, path, options] of cases) {
        const response = await api.call(method, path, options);
        expect.soft(response.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
        expect.soft(response.status, `${method} ${path}`).toBeLessThan(500);
        expect
          .soft(response.headers.get('content-type'), `${method} ${path}`)
          .toBe('application/problem+json');
      }
      expect((await api.call('GET', '/health/live')).status).toBe(200);
    });
  });
}

/**
 * `/health` in each state of the services behind it: Redis killed (degraded, still 200) and
 * back (ok again), the database refusing connections (503, the check named in
 * `/health/ready`) and back. Redis is a throwaway server; the database is the file's own.
 */
export function describeHealthStates(exampleRoot: string): void {
  const pgDatabase = useTestDatabase();
  describe(`${exampleName(exampleRoot)}: health in each state`, () => {
    let redis: RedisServer;
    let server: ServerProcess;
    let admin: InstanceType<typeof pg.Client>;

    beforeAll(async () => {
      redis = await startRedisServer();
      server = await startServer({
        script: 'src/main.ts',
        cwd: exampleRoot,
        env: {
          NODE_ENV: 'test',
          LOG_LEVEL: 'silent',
          DATABASE_URL: pgDatabase.url,
          REDIS_URL: redis.url,
        },
      });
      admin = new pg.Client({ connectionString: pgDatabase.adminUrl });
      await admin.connect();
    });

    afterAll(async () => {
      await admin
        ?.query(`alter database "${pgDatabase.name}" allow_connections true`)
        .catch(() => undefined);
      await admin?.end();
      await server?.stop('SIGKILL');
      await redis?.stop();
    });

    async function health() {
      const response = await fetch(`${server.base}/health`);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    }

    it('is ok with both services up', async () => {
      expect(await health()).toMatchObject({ status: 200, body: { status: 'ok' } });
    });

    it('is degraded, still 200, while Redis is down, and ok again once it is back', async () => {
      await redis.kill();
      const down = await health();
      expect(down.status).toBe(200);
      expect(down.body).toMatchObject({
        status: 'degraded',
        checks: { cache: { status: 'down', mode: 'redis' } },
      });
      expect((await fetch(`${server.base}/health/live`)).status).toBe(200);
      await redis.restart();
      let body: Record<string, unknown> = {};
      for (let attempt = 0; attempt < 50; attempt++) {
        body = (await health()).body;
        if (body['status'] === 'ok') break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(body['status']).toBe('ok');
    });

    it('answers 503 with the failing check named while the database refuses connections', async () => {
      await admin.query(`alter database "${pgDatabase.name}" allow_connections false`);
      await terminateBackends(pgDatabase.adminUrl, { database: pgDatabase.name });
      const down = await health();
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({
        checks: { database: { status: 'down', driver: 'postgres' } },
      });
      const ready = await fetch(`${server.base}/health/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ code: 'NOT_READY', check: 'database' });
      expect((await fetch(`${server.base}/health/live`)).status).toBe(200);
      await admin.query(`alter database "${pgDatabase.name}" allow_connections true`);
      let status = 0;
      for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
        status = (await fetch(`${server.base}/health/ready`)).status;
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(status).toBe(200);
    });
  });
}
