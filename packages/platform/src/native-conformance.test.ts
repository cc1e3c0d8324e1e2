import { authGuard, FairmindError, type Middleware } from '@fairmind/core';
import { rateLimit, requestLog, securityHeaders } from '@fairmind/edge';
import { describeConformance, type RecordingLogger, recordingLogger } from '@fairmind/testing';
import { describe, expect, it } from 'vitest';
import { type NativeApp, nativeTargets } from './test-support/native.js';

// A stand-in for auth.authenticate({ optional: true }): `Authorization: Bearer <role>` signs in
// as that role, no credential stays anonymous.
const signIn: Middleware = (exchange) => {
  const role = /^Bearer (\w+)$/.exec(exchange.request.headers.get('authorization') ?? '')?.[1];
  if (role !== undefined) exchange.state.auth = { type: 'user', id: `user-${role}`, role };
  return undefined;
};

// A stand-in for auth.requireRole('admin'), marked as the guard it is.
const admins = authGuard((exchange) => {
  const auth = exchange.state.auth;
  if (auth === undefined) {
    throw new FairmindError('UNAUTHENTICATED', 401, 'Send Authorization: Bearer <role>.', {
      headers: { 'WWW-Authenticate': 'Bearer' },
    });
  }
  if (auth.role !== 'admin') throw new FairmindError('FORBIDDEN', 403, 'Admins only.');
  return undefined;
});

const loggers = new Map<string, RecordingLogger>();

// A fresh app per target: its own limiter, so every run starts from the same count.
const targets = nativeTargets(() => {
  const logger = recordingLogger();
  const app: NativeApp = {
    everywhere: [requestLog(), securityHeaders(), signIn],
    guard: admins,
    // 2^31 s windows start in 1970 and end in 2038, so no run crosses one mid-script.
    limited: rateLimit({ limit: 2, windowSeconds: 2 ** 31 }),
    logger,
  };
  loggers.set(`run ${loggers.size}`, logger);
  return app;
});

describeConformance(
  'an app of its own from the native pieces of every adapter',
  targets,
  async (call) => {
    const problems = [];
    await call('hello', 'GET', '/hello');
    problems.push(await call('no credential', 'GET', '/admin'));
    problems.push(
      await call('wrong role', 'GET', '/admin', { headers: { authorization: 'Bearer viewer' } }),
    );
    await call('admin', 'GET', '/admin', { headers: { authorization: 'Bearer admin' } });
    for (let index = 0; index < 2; index++) await call(`limited ${index}`, 'GET', '/limited');
    problems.push(await call('limited 2', 'GET', '/limited'));
    problems.push(await call('unknown route', 'GET', '/nope?token=secret'));
    problems.push(await call('unknown method', 'POST', '/hello', { body: { a: 1 } }));
    problems.push(await call('thrown error', 'GET', '/boom'));
    problems.push(await call('thrown FairmindError', 'GET', '/conflict'));
    // Every problem names the request it answers, as its X-Request-Id header does.
    for (const problem of problems) {
      const requestId = `conformance-${problem.step.replace(/[^\w.:-]/g, '-')}`;
      expect(problem.body, problem.step).toMatchObject({ requestId });
      expect(problem.headers['x-request-id'], problem.step).toBe(requestId);
    }
  },
  { statuses: [200, 401, 403, 404, 409, 429, 500] },
);

describe('the native error handlers', () => {
  it('log each 500 once, with the request id, method and path, on every adapter', () => {
    expect(loggers.size).toBe(targets.length);
    for (const logger of loggers.values()) {
      expect(logger.errors.filter((entry) => 'err' in entry)).toEqual([
        expect.objectContaining({
          requestId: 'conformance-thrown-error',
          method: 'GET',
          path: '/boom',
          status: 500,
        }),
      ]);
    }
  });
});
