// Three example-express instances behind Debian's nginx with deploy/nginx/fairmind.conf, on
// one PostgreSQL and one Redis: a rolling restart under load, one global rate limit, logout
// and writes seen by every instance.
//
//   pnpm vitest run --project scale scale/test/balancer.test.ts
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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
import { type Answer, type CallOptions, login, platformEnv, call as request } from './http.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const example = join(root, 'examples', 'express');
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
  env = platformEnv({
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    RATE_LIMIT_REQUESTS: String(LIMIT),
    RATE_LIMIT_WINDOW: '60',
    // nginx is the proxy: the instances read the client from X-Forwarded-For.
    TRUSTED_PROXIES: '127.0.0.1',
    // Requests nginx still sends after SIGTERM get a 503 it retries elsewhere (docs/scaling.md).
    SHUTDOWN_DELAY: '2',
  });
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

// Every request stands for a client address, as a browser behind nginx would.
function call(
  base: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Answer> {
  return request(base, method, path, { client: '203.0.113.1', ...options });
}

describe('three instances behind nginx', () => {
  it('refuses everywhere a token logged out on one instance', async () => {
    const [first, second, third] = instances as [ServerProcess, ServerProcess, ServerProcess];
    const token = await login(first.base, '203.0.113.10');
    // Several checks on each, apart: every instance keeps the token's answer in memory
    // (REVOCATION_STALE_MS), and the logout must still be refused everywhere once answered.
    for (let round = 0; round < 4; round++) {
      for (const instance of instances) {
        expect(
          (await call(instance.base, 'GET', '/auth/me', { token, client: '203.0.113.10' })).status,
        ).toBe(200);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
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

  it('sends a POST an instance turned away (503, nothing done) to another, once', async () => {
    // A stand-in for an instance inside its SHUTDOWN_DELAY: every request gets the 503.
    let turnedAway = 0;
    let turning = false;
    const draining = createServer((_req, res) => {
      // Healthy while nginx starts (its start-up check must not mark it failed).
      if (!turning) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
        return;
      }
      turnedAway++;
      res.writeHead(503, {
        'content-type': 'application/problem+json',
        'retry-after': '1',
        connection: 'close',
      });
      res.end(JSON.stringify({ status: 503, code: 'SHUTTING_DOWN' }));
    });
    await new Promise<void>((resolve) => draining.listen(0, '127.0.0.1', resolve));
    const first = instances[0] as ServerProcess;
    const pair = await startNginx({
      config: join(root, 'deploy', 'nginx', 'fairmind.conf'),
      upstreams: [(draining.address() as AddressInfo).port, first.port],
    });
    try {
      const client = '203.0.113.12';
      const token = await login(first.base, client);
      turning = true;
      // POSTs first: a GET answered 503 would mark the stand-in failed, and nginx would send
      // nothing more to it for fail_timeout.
      const created: number[] = [];
      for (let index = 0; index < 6; index++) {
        const model = { name: `retry-${randomUUID()}`, version: '1', riskLevel: 'low' };
        created.push(
          (await call(pair.base, 'POST', '/api/v1/models', { token, body: model, client })).status,
        );
      }
      const read: number[] = [];
      for (let index = 0; index < 6; index++) {
        read.push(
          (await call(pair.base, 'GET', '/api/v1/models?limit=1', { token, client })).status,
        );
      }
      expect(turnedAway).toBeGreaterThan(0);
      expect(created).toEqual([201, 201, 201, 201, 201, 201]);
      expect(read).toEqual([200, 200, 200, 200, 200, 200]);
    } finally {
      await pair.stop();
      await new Promise((resolve) => draining.close(resolve));
    }
  });

  it('loses no request in a rolling restart under load', async () => {
    const token = await login(nginx.base, '192.0.2.1');
    const statuses: Record<string, number> = {};
    const failures: string[] = [];
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
        if (answer.status !== 200 && answer.status !== 201) {
          failures.push(
            `${write ? 'POST' : 'GET'} ${answer.status} ${answer.text ?? JSON.stringify(answer.json)}`.slice(
              0,
              300,
            ),
          );
        }
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
    expect(failed, failures.join('\n')).toBe(0);
    expect(requests).toBeGreaterThan(100);
  });
});
