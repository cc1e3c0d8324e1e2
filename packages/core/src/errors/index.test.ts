import { describe, expect, it } from 'vitest';
import { FairmindError, isFairmindError, statusTitle, toProblem } from './index.js';

describe('FairmindError', () => {
  it('carries code, status, message and cause', () => {
    const cause = new Error('socket hang up');
    const error = new FairmindError('NOT_FOUND', 404, 'Model 7 does not exist.', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('FairmindError');
    expect(error.code).toBe('NOT_FOUND');
    expect(error.status).toBe(404);
    expect(error.message).toBe('Model 7 does not exist.');
    expect(error.cause).toBe(cause);
    expect(error.expose).toBe(true);
  });

  it('refuses codes that are not UPPER_SNAKE and statuses that are not errors', () => {
    expect(() => new FairmindError('notFound', 404, 'x')).toThrow(/UPPER_SNAKE/);
    expect(() => new FairmindError('NOT__FOUND', 404, 'x')).toThrow(/UPPER_SNAKE/);
    expect(() => new FairmindError('OK', 200, 'x')).toThrow(/400 to 599/);
    expect(() => new FairmindError('WEIRD', 404.5, 'x')).toThrow(/400 to 599/);
  });

  it('hides 5xx messages by default', () => {
    expect(new FairmindError('INTERNAL', 500, 'pool exhausted').expose).toBe(false);
    expect(new FairmindError('SERVICE_UNAVAILABLE', 503, 'down', { expose: true }).expose).toBe(
      true,
    );
  });

  it('is recognised across package copies by shape', () => {
    const foreign = Object.assign(new Error('x'), {
      name: 'FairmindError',
      code: 'X',
      status: 400,
    });
    expect(isFairmindError(foreign)).toBe(true);
    expect(isFairmindError(new Error('x'))).toBe(false);
    expect(isFairmindError({ name: 'FairmindError', code: 'X', status: 400 })).toBe(false);
  });
});

describe('toProblem', () => {
  it('maps a FairmindError to RFC 9457 members', () => {
    const problem = toProblem(
      new FairmindError('RATE_LIMITED', 429, 'Slow down: retry in 3 seconds.', {
        details: { retryAfter: 3, status: 999, title: 'spoof' },
      }),
      { instance: '/api/v1/models' },
    );
    expect(problem).toEqual({
      type: 'about:blank',
      title: 'Too Many Requests',
      status: 429,
      detail: 'Slow down: retry in 3 seconds.',
      code: 'RATE_LIMITED',
      instance: '/api/v1/models',
      retryAfter: 3,
    });
  });

  it('builds a type URI from a base', () => {
    const problem = toProblem(new FairmindError('TOKEN_EXPIRED', 401, 'Log in again.'), {
      typeBase: 'https://docs.example.com/problems/',
    });
    expect(problem.type).toBe('https://docs.example.com/problems/token-expired');
  });

  it('never leaks an unknown error', () => {
    const problem = toProblem(new Error('relation "users" does not exist at SELECT * FROM users'));
    expect(problem.status).toBe(500);
    expect(problem.code).toBe('INTERNAL');
    expect(JSON.stringify(problem)).not.toMatch(/users|SELECT/);
    expect(toProblem('a string').status).toBe(500);
    expect(toProblem(undefined).code).toBe('INTERNAL');
  });

  it('hides the message and details of an unexposed error', () => {
    const problem = toProblem(
      new FairmindError('DB_DOWN', 503, 'connect ECONNREFUSED 10.0.0.5:5432', {
        details: { host: 'db' },
      }),
    );
    expect(problem.detail).not.toContain('ECONNREFUSED');
    expect(problem).not.toHaveProperty('host');
    expect(problem.title).toBe('Service Unavailable');
  });

  it("sends a client error's details without its unexposed message", () => {
    const problem = toProblem(
      new FairmindError(
        'DB_NOT_NULL_VIOLATION',
        400,
        'null value in column "name" of relation "items"',
        {
          expose: false,
          details: { column: 'name' },
        },
      ),
    );
    expect(problem).toMatchObject({ status: 400, detail: 'Bad Request', column: 'name' });
    expect(JSON.stringify(problem)).not.toContain('relation');
  });

  it('uses a registry title or a generic one', () => {
    expect(statusTitle(413)).toBe('Content Too Large');
    expect(statusTitle(499)).toBe('Client Error');
    expect(statusTitle(599)).toBe('Server Error');
  });
});

describe('codeForStatus', () => {
  it('names framework client errors with the contract codes', async () => {
    const { codeForStatus } = await import('./index.js');
    expect(codeForStatus(400)).toBe('VALIDATION_FAILED');
    expect(codeForStatus(413)).toBe('PAYLOAD_TOO_LARGE');
    expect(codeForStatus(415)).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(codeForStatus(418)).toBe('BAD_REQUEST');
  });
});
