import { clientErrorMessage, keptHeaders, liftClientError } from '@fairmind/core/adapter';

// Hono's HTTPException (thrown by its validator, body limit and auth middleware) keeps its 4xx,
// its message and the headers of its response (a 401's WWW-Authenticate).
export function asProblemError(error: unknown): unknown {
  return liftClientError(error, (thrown) => ({
    status: thrown['status'],
    message: clientErrorMessage('@fairmind/hono', error),
    headers: keptHeaders(thrown['res']),
  }));
}
