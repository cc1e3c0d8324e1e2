import { FairmindError, problemReply } from '@fairmind/core';
import { HTTPException } from 'hono/http-exception';
import { describe, expect, it } from 'vitest';
import { asProblemError } from './index.js';

describe('asProblemError', () => {
  it('keeps a FairmindError as it is', () => {
    const error = new FairmindError('CONFLICT', 409, 'Already there.');
    expect(asProblemError(error)).toBe(error);
  });

  it("turns an HTTPException into the contract code, keeping its response's headers", () => {
    const exception = new HTTPException(401, {
      message: 'Who are you?',
      res: new Response('no', {
        headers: { 'www-authenticate': 'Basic realm="x"', 'content-type': 'text/plain' },
      }),
    });
    const mapped = asProblemError(exception) as FairmindError;
    expect(mapped).toBeInstanceOf(FairmindError);
    expect(mapped).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    expect(mapped.message).toContain('Who are you?');
    expect(mapped.headers).toEqual({ 'www-authenticate': 'Basic realm="x"' });
    expect(mapped.cause).toBe(exception);
    expect(problemReply(mapped).headers['content-type']).toBe('application/problem+json');
    expect(asProblemError(new HTTPException(418))).toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('leaves server errors alone, so their problem says nothing of the cause', () => {
    const failure = new HTTPException(502, { message: 'upstream 10.0.0.5 refused' });
    expect(asProblemError(failure)).toBe(failure);
    const problem = problemReply(asProblemError(failure));
    expect(problem.status).toBe(500);
    expect(problem.body).not.toContain('10.0.0.5');
    expect(asProblemError(undefined)).toBeUndefined();
  });
});
