import { FairmindError, isFairmindError } from '@fairmind/core';

// The contract's codes for the client errors Fastify raises itself (bad JSON, schema
// validation, an unsupported media type, a body over `bodyLimit`), so a client switches on
// the same codes whichever layer refused its request.
const CODES: Readonly<Record<number, string>> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  408: 'REQUEST_TIMEOUT',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
};

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
  if (isFairmindError(error)) return error;
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 499) {
    return error;
  }
  const message = error instanceof Error ? error.message : '';
  return new FairmindError(
    CODES[status] ?? 'BAD_REQUEST',
    status,
    `[@fairmind/fastify] ${message || 'The request was refused'}: fix it and send it again.`,
    { cause: error },
  );
}
