import { clientErrorMessage, liftClientError } from '@fairmind/core/adapter';

// Fastify's client errors (bad JSON, a schema violation, an unsupported media type) carry a
// 4xx `statusCode` and a message written for the client: they keep both.
export function asProblemError(error: unknown): unknown {
  return liftClientError(error, (thrown) => ({
    status: thrown['statusCode'],
    message: clientErrorMessage('@fairmind/fastify', error),
  }));
}
