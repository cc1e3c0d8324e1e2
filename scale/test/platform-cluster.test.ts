// The whole platform on a Redis Cluster (REDIS_CLUSTER_NODES): two example-express processes
// share PostgreSQL and a cluster of three masters with a replica each; then a master dies
// under mixed traffic and the test measures what users saw.
//
//   pnpm vitest run --project scale scale/test/platform-cluster.test.ts
//
// The failover figures are printed (`[failover] ...`) and recorded in docs/scaling.md.
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ServerProcess, startServer, useTestDatabase } from '@fairmind/testing';
import { type RedisCluster, startRedisCluster } from '@fairmind/testing/servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, type Answer, login, platformEnv, call as request } from './http.js';

const example = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'express');
const database = useTestDatabase();
// The key the platform's global rate limit counts 127.0.0.1 under: every request touches it.
const RATE_LIMIT_KEY = 'fairmind:rl:sw:{default:ip:127.0.0.1}';

let cluster: RedisCluster;
let a: ServerProcess;
let b: ServerProcess;

beforeAll(async () => {
  cluster = await startRedisCluster();
  const env = platformEnv({
    DATABASE_URL: database.url,
    REDIS_CLUSTER_NODES: cluster.nodesVariable,
    RATE_LIMIT_REQUESTS: '1000000',
  });
  [a, b] = await Promise.all([
    startServer({ script: 'src/main.ts', cwd: example, env }),
    startServer({ script: 'src/main.ts', cwd: example, env }),
  ]);
});

afterAll(async () => {
  await Promise.all([a?.stop('SIGKILL'), b?.stop('SIGKILL')]);
  await cluster?.stop();
});

function call(
  base: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<Answer> {
  return request(base, method, path, { token, body, timeoutMs: 10_000 });
}

describe('the platform on a Redis Cluster', () => {
  it('reports the cluster as its Redis and shares logout and writes between instances', async () => {
    const ready = await call(a.base, 'GET', '/health/ready');
    expect(ready.status).toBe(200);
    const token = await login(a.base);
    expect((await call(b.base, 'GET', '/auth/me', token)).status).toBe(200);
    await call(b.base, 'GET', '/api/v1/dashboard', token);
    const before = (await call(b.base, 'GET', '/api/v1/dashboard', token)).json as {
      models: { total: number };
    };
    const model = { name: `m-${randomUUID()}`, version: '1', riskLevel: 'high' };
    expect((await call(a.base, 'POST', '/api/v1/models', token, model)).status).toBe(201);
    // Fresh on B within moments: when the cache's 100 ms command deadline passes on a busy
    // machine, A keeps the tag invalidation and sends it with its next Redis call, so both
    // instances are asked in turn.
    let total = before.models.total;
    for (let turn = 0; turn < 50 && total !== before.models.total + 1; turn++) {
      await call(a.base, 'GET', '/api/v1/models?limit=1', token);
      const after = (await call(b.base, 'GET', '/api/v1/dashboard', token)).json as {
        models: { total: number };
      };
      total = after.models.total;
      if (total !== before.models.total + 1)
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(total, `A:\n${a.output()}\nB:\n${b.output()}`).toBe(before.models.total + 1);
    expect((await call(a.base, 'POST', '/auth/logout', token)).status).toBe(204);
    expect((await call(b.base, 'GET', '/auth/me', token)).status).toBe(401);
    for (const server of [a, b]) {
      expect(server.output()).not.toMatch(/CROSSSLOT|MOVED|\bASK\b/);
    }
  });

  it('survives a master killed under mixed traffic: no lost write, no revoked token accepted', async () => {
    const victim = await cluster.masterOf(RATE_LIMIT_KEY);
    const token = await login(a.base);
    const written: string[] = [];
    const revoked: string[] = [];
    const log: { at: number; status: number; kind: string }[] = [];
    const started = Date.now();
    let killedAt = 0;
    let stopAt = Number.POSITIVE_INFINITY;
    let lateRevocations = 0;
    const deadline = started + 45_000;

    // Eight clients, alternating instances: 90% cached list reads, 10% writes, and every
    // tenth turn a session that logs out and is then checked on the other instance.
    const client = async (index: number) => {
      for (let turn = 0; Date.now() < Math.min(stopAt, deadline); turn++) {
        const base = (turn + index) % 2 === 0 ? a.base : b.base;
        const other = base === a.base ? b.base : a.base;
        const at = Date.now();
        if (turn % 10 === 9) {
          const model = { name: `f-${randomUUID()}`, version: '1', riskLevel: 'low' };
          const answer = await call(base, 'POST', '/api/v1/models', token, model);
          log.push({ at, status: answer.status, kind: 'write' });
          if (answer.status === 201) written.push(answer.json['id'] as string);
        } else if (turn % 10 === 4 && index < 2) {
          const session = await call(base, 'POST', '/auth/login', undefined, ADMIN);
          log.push({ at, status: session.status, kind: 'login' });
          const own = session.json['accessToken'] as string | undefined;
          if (!own) continue;
          const out = await call(base, 'POST', '/auth/logout', own);
          log.push({ at: Date.now(), status: out.status, kind: 'logout' });
          if (out.status === 204) {
            revoked.push(own);
            let check = await call(other, 'GET', '/auth/me', own);
            if (check.status !== 401) {
              // A logout whose Redis write failed in the failover is in SQL with an
              // "unreplicated" mark, which the other instance reads again every second.
              lateRevocations++;
              await new Promise((resolve) => setTimeout(resolve, 1_100));
              check = await call(other, 'GET', '/auth/me', own);
            }
            log.push({ at: Date.now(), status: check.status === 401 ? 200 : 999, kind: 'revoked' });
          }
        } else {
          const answer = await call(base, 'GET', '/api/v1/models?limit=20', token);
          log.push({ at, status: answer.status, kind: 'read' });
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, index) => client(index)));

    await new Promise((resolve) => setTimeout(resolve, 3_000));
    killedAt = Date.now();
    await victim.server.kill();
    await cluster.settled(30_000);
    const settledAt = Date.now();
    // Five more seconds of load once the cluster agrees again.
    stopAt = Date.now() + 5_000;
    await load;

    const failures = log.filter(
      (entry) => entry.status !== 200 && entry.status !== 201 && entry.status !== 204,
    );
    const byStatus: Record<string, number> = {};
    for (const failure of failures) {
      const name = `${failure.kind} ${failure.status}`;
      byStatus[name] = (byStatus[name] ?? 0) + 1;
    }
    const lastFailure = failures.reduce((latest, entry) => Math.max(latest, entry.at), killedAt);
    const figures = {
      requests: log.length,
      failed: failures.length,
      byStatus,
      promotedAfterMs: settledAt - killedAt,
      everyRequestSucceedsAfterMs: lastFailure - killedAt,
      acknowledgedWrites: written.length,
      acknowledgedLogouts: revoked.length,
      revocationsSeenOnlyAfterTheMarkRefresh: lateRevocations,
    };
    console.log(`[failover] ${JSON.stringify(figures)}`);

    // A revoked token is refused on both instances, whenever its logout was acknowledged.
    const output = `[failover] ${JSON.stringify(figures)}\nA:\n${a.output()}\nB:\n${b.output()}`;
    expect(
      log.filter((entry) => entry.status === 999),
      output,
    ).toEqual([]);
    for (const own of revoked) {
      expect((await call(a.base, 'GET', '/auth/me', own)).status, output).toBe(401);
      expect((await call(b.base, 'GET', '/auth/me', own)).status, output).toBe(401);
    }
    // Every acknowledged write is there, through either instance.
    for (const id of written) {
      expect((await call(b.base, 'GET', `/api/v1/models/${id}`, token)).status, output).toBe(200);
    }
    // The service recovered: the last requests all succeeded, and both processes live.
    expect(lastFailure, output).toBeLessThan(stopAt - 2_000);
    expect((await call(a.base, 'GET', '/health/live')).status).toBe(200);
    expect((await call(b.base, 'GET', '/health/live')).status).toBe(200);
    for (const server of [a, b]) {
      expect(server.output(), output).not.toMatch(/uncaught|unhandled/i);
    }
  });
});
