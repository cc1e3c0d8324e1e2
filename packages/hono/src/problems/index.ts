import { clientErrorMessage, keptHeaders, liftClientError } from '@fairmind/core/adapter';

/**
 * A thrown value as the error the problem document is made from: a `FairmindError` as it
 * is; a client error with a `status` from 400 to 499 (Hono's `HTTPException`, thrown by its
 * validator, body limit and auth middleware) as a `FairmindError` with that status, its
 * message and the headers of its response; anything else as it is, which `problemReply`
 * turns into a bare 500 that says nothing of the cause.
 *
 * @example
 * ```ts
 * problemReply(asProblemError(new HTTPException(401, { message: 'Who are you?' })));
 * ```
 */
export function asProblemError(error: unknown): unknown {
  return liftClientError(error, (thrown) => ({
    status: thrown['status'],
    message: clientErrorMessage('@fairmind/hono', error),
    headers: keptHeaders(thrown['res']),
  }));
}
