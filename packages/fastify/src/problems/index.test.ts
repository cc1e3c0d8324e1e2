import { FairmindError, problemReply } from '@fairmind/core';
import { describe, expect, it } from 'vitest';
import { asProblemError } from './index.js';

describe('asProblemError', () => {
  it('keeps a FairmindError as it is', () => {
    const error = new FairmindError('CONFLICT', 409, 'Already there.');
    expect(asProblemError(error)).toBe(error);
  });

  it('turns a Fastify client error into the contract code with the same status', () => {
    const fastifyError = Object.assign(new Error('Unsupported Media Type'), {
      statusCode: 415,
      code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
    });
    const mapped = asProblemError(fastifyError) as FairmindError;
    expect(mapped).toBeInstanceOf(FairmindError);
    expect(mapped).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 });
    expect(mapped.message).toContain('Unsupported Media Type');
    expect(mapped.cause).toBe(fastifyError);
    const teapot = asProblemError(Object.assign(new Error('short and stout'), { statusCode: 418 }));
    expect(teapot).toMatchObject({ code: 'BAD_REQUEST', status: 418 });
  });

  it('leaves server errors alone, so their problem says nothing of the cause', () => {
    const failure = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), {
      statusCode: 503,
    });
    expect(asProblemError(failure)).toBe(failure);
    const problem = problemReply(asProblemError(failure));
    expect(problem.status).toBe(500);
    expect(problem.body).not.toContain('10.0.0.5');
    expect(asProblemError('a string')).toBe('a string');
    expect(asProblemError(null)).toBe(null);
  });
});
