// Three example-express instances behind Debian's nginx with deploy/nginx/fairmind.conf, on
// one PostgreSQL and one Redis: a rolling restart under load, one global rate limit, logout
// and writes seen by every instance.
//
//   pnpm vitest run --project scale scale/test/balancer.test.ts
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ServerProcess, startServer, useTestDatabase } from '@fairmind/testing';
import {
  type Nginx,
  type RedisServer,
  startNginx,
  startRedisServer,
} from '@fairmind/testing/servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const example = join(root, 'examples', 'express');
const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' };
const LIMIT = 120;
const database = useTestDatabase();

let redis: RedisServer;
let nginx: Nginx;
const instances: ServerProcess[] = [];
let env: Record<string, string>;

function start(port?: number): Promise<ServerProcess> {
  return startServer({ script: 'src/main.ts', cwd: example, env, ...(port ? { port } : {}) });
}

beforeAll(async () => {
  redis = await startRedisServer();
  env = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    FAIRMIND_ADMIN_EMAIL: ADMIN.email,
    FAIRMIND_ADMIN_PASSWORD: ADMIN.password,
    JWT_SECRET: 'a-shared-secret-of-at-least-32-characters',
    RATE_LIMIT_REQUESTS: String(LIMIT),
    RATE_LIMIT_WINDOW: '60',
    // nginx is the proxy: the instances read the client from X-Forwarded-For.
    TRUSTED_PROXIES: '127.0.0.1',
  };
  instances.push(...(await Promise.all([start(), start(), start()])));
  nginx = await startNginx({
    config: join(root, 'deploy', 'nginx', 'fairmind.conf'),
    upstreams: instances.map((instance) => instance.port),
  });
});

afterAll(async () => {
  await nginx?.stop();
  await Promise.all(instances.map((instance) => instance.stop('SIGKILL')));
  await redis?.stop();
});

interface Answer {
  status: number;
  json: Record<string, unknown>;
}

async function call(
  base: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; client?: string } = {},
): Promise<Answer> {
  try {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        // The client address each request stands for, as a browser behind nginx would be.
        'x-forwarded-for': options.client ?? '203.0.113.1',
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    return {
      status: response.status,
      json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  } catch {
    return { status: 0, json: {} };
  }
}

async function login(base: string, client: string): Promise<string> {
  const answer = await call(base, 'POST', '/auth/login', { body: ADMIN, client });
  expect(answer.status).toBe(200);
  return answer.json['accessToken'] as string;
}

describe('three instances behind nginx', () => {
  it('refuses everywhere a token logged out on one instance', async () => {
    const [first, second, third] = instances as [ServerProcess, ServerProcess, ServerProcess];
    const token = await login(first.base, '203.0.113.10');
    for (const instance of instances) {
      expect(
        (await call(instance.base, 'GET', '/auth/me', { token, client: '203.0.113.10' })).status,
      ).toBe(200);
    }
    expect(
      (await call(second.base, 'POST', '/auth/logout', { token, client: '203.0.113.10' })).status,
    ).toBe(204);
    for (const base of [first.base, second.base, third.base, nginx.base]) {
      expect((await call(base, 'GET', '/auth/me', { token, client: '203.0.113.10' })).status).toBe(
        401,
      );
    }
  });

  it('reads a write made through one instance back fresh through the others', async () => {
    const [first, second, third] = instances as [ServerProcess, ServerProcess, ServerProcess];
    const client = '203.0.113.11';
    const token = await login(nginx.base, client);
    // Warm every instance's cache, then write through the first.
    const before = await Promise.all(
      [second, third].map(
        async (instance) =>
          (
            (await call(instance.base, 'GET', '/api/v1/dashboard', { token, client })).json as {
              models: { total: number };
            }
          ).models.total,
      ),
    );
    const model = { name: `lb-${randomUUID()}`, version: '1', riskLevel: 'medium' };
    const created = await call(first.base, 'POST', '/api/v1/models', {
      token,
      body: model,
      client,
    });
    expect(created.status).toBe(201);
    for (const [index, instance] of [second, third].entries()) {
      const seen = await call(
        instance.base,
        'GET',
        `/api/v1/models/${created.json['id'] as string}`,
        {
          token,
          client,
        },
      );
      expect(seen.status).toBe(200);
      const total = (
        (await call(instance.base, 'GET', '/api/v1/dashboard', { token, client })).json as {
          models: { total: number };
        }
      ).models.total;
      expect(total).toBe((before[index] as number) + 1);
    }
  });

  it('holds one rate limit across the three, within one request per instance', async () => {
    const client = '198.51.100.7';
    const statuses: number[] = [];
    // Sequential through nginx's round robin: each instance sees a third of them.
    for (let index = 0; index < LIMIT + 30; index++) {
      statuses.push((await call(nginx.base, 'GET', '/health/live', { client })).status);
    }
    // /health is outside the rate limit; /auth/me is inside it (401 without a token).
    const limited: number[] = [];
    for (let index = 0; index < LIMIT + 30; index++) {
      limited.push((await call(nginx.base, 'GET', '/auth/me', { client })).status);
    }
    expect(statuses.every((status) => status === 200)).toBe(true);
    const allowed = limited.filter((status) => status === 401).length;
    const refused = limited.filter((status) => status === 429).length;
    console.log(
      `[balancer] rate limit ${LIMIT}: ${allowed} allowed, ${refused} refused of ${limited.length}`,
    );
    expect(allowed + refused).toBe(limited.length);
    expect(allowed).toBeGreaterThanOrEqual(LIMIT);
    expect(allowed).toBeLessThanOrEqual(LIMIT + instances.length);
  });

  it('loses no request in a rolling restart under load', async () => {
    const token = await login(nginx.base, '192.0.2.1');
    const statuses: Record<string, number> = {};
    let requests = 0;
    let stop = false;
    // Each request from its own client address, so the rate limit stays out of the way.
    let address = 0;
    const worker = async () => {
      while (!stop) {
        const client = `10.20.${(address >> 8) & 255}.${address++ & 255}`;
        const write = requests % 10 === 9;
        const answer = write
          ? await call(nginx.base, 'POST', '/api/v1/models', {
              token,
              client,
              body: { name: `rr-${randomUUID()}`, version: '1', riskLevel: 'low' },
            })
          : await call(nginx.base, 'GET', '/api/v1/models?limit=20', { token, client });
        requests++;
        statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      }
    };
    const load = Promise.all(Array.from({ length: 6 }, () => worker()));
    const restarts: number[] = [];
    for (const [index, instance] of [...instances].entries()) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const began = Date.now();
      expect(await instance.stop('SIGTERM')).toBe(0);
      instances[index] = await start(instance.port);
      restarts.push(Date.now() - began);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    stop = true;
    await load;
    const failed = Object.entries(statuses)
      .filter(([status]) => !['200', '201'].includes(status))
      .reduce((sum, [, count]) => sum + count, 0);
    console.log(
      `[balancer] rolling restart: ${requests} requests, ${failed} failed, statuses ${JSON.stringify(statuses)}, restart times ${restarts.join(' / ')} ms`,
    );
    expect(failed).toBe(0);
    expect(requests).toBeGreaterThan(100);
  });
});
