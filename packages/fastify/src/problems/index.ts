import { clientErrorMessage, liftClientError } from '@fairmind/core/adapter';

/**
 * A thrown value as the error the problem document is made from: a `FairmindError` as it is;
 * a Fastify client error (a `statusCode` from 400 to 499: bad JSON, a schema violation, an
 * unsupported media type) as a `FairmindError` with the same status and Fastify's message,
 * which is written for the client; anything else as it is, which `problemReply` turns into a
 * bare 500 that says nothing of the cause.
 *
 * @example
 * ```ts
 * problemReply(asProblemError(error));
 * ```
 */
export function asProblemError(error: unknown): unknown {
  return liftClientError(error, (thrown) => ({
    status: thrown['statusCode'],
    message: clientErrorMessage('@fairmind/fastify', error),
  }));
}
