import { liftClientError } from '@fairmind/core/adapter';

// Headers of an HTTPException's own response worth keeping on the problem (a 401 from
// basicAuth carries WWW-Authenticate); its body and framing are replaced.
const DROPPED = new Set(['content-type', 'content-length', 'content-encoding']);

function headersOf(response: unknown): Record<string, string> | undefined {
  if (!(response instanceof Response)) return undefined;
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (!DROPPED.has(name)) headers[name] = value;
  });
  return headers;
}

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
    message: `[@fairmind/hono] ${(error instanceof Error && error.message) || 'The request was refused'}: fix it and send it again.`,
    headers: headersOf(thrown['res']),
  }));
}
