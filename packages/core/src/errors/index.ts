/**
 * Error codes shared by every FairMind package, defined once so that clients can switch on
 * them. A package may use its own UPPER_SNAKE code; these are the ones the HTTP contract names.
 */
export const ErrorCode = {
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  TOKEN_INVALID: 'TOKEN_INVALID',
  TOKEN_REVOKED: 'TOKEN_REVOKED',
  INVALID_CREDENTIALS: 'INVALID_CREDENTIALS',
  REFRESH_TOKEN_REUSED: 'REFRESH_TOKEN_REUSED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  RATE_LIMITED: 'RATE_LIMITED',
  CONFIG_INVALID: 'CONFIG_INVALID',
  INVALID_OPTIONS: 'INVALID_OPTIONS',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  INTERNAL: 'INTERNAL',
} as const;

// The contract's codes for client errors that frameworks raise themselves (bad JSON, a body
// over their limit, an unsupported media type), so a client switches on the same codes
// whichever layer refused its request.
const CLIENT_STATUS_CODES: Readonly<Record<number, string>> = {
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
 * The contract's error code for an HTTP client-error status, for adapters that turn a
 * framework's own 4xx into a problem document.
 *
 * @example
 * ```ts
 * codeForStatus(413); // 'PAYLOAD_TOO_LARGE'
 * codeForStatus(418); // 'BAD_REQUEST'
 * ```
 */
export function codeForStatus(status: number): string {
  return CLIENT_STATUS_CODES[status] ?? 'BAD_REQUEST';
}

/** A code from {@link ErrorCode}, or any other UPPER_SNAKE code a package defines. */
export type ErrorCodeName = (typeof ErrorCode)[keyof typeof ErrorCode] | (string & {});

const UPPER_SNAKE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;

/** What {@link FairmindError} takes besides its code, status and message. */
export interface FairmindErrorOptions {
  /** The underlying error; kept for logs, never sent to a client. */
  cause?: unknown | undefined;
  /**
   * Extra fields for the problem body (RFC 9457 extension members). Must hold no secret. A
   * 4xx sends them even when its message is not exposed (they describe the client's request,
   * such as the field at fault); a 5xx only when exposed.
   */
  details?: Readonly<Record<string, unknown>> | undefined;
  /** Headers the HTTP reply must carry, such as `Retry-After` or `WWW-Authenticate`. */
  headers?: Readonly<Record<string, string>> | undefined;
  /**
   * Whether `message` may reach an HTTP client. 5xx errors default to `false`: their
   * message often names internals, so the client gets the generic status title instead.
   * @default status < 500
   */
  expose?: boolean | undefined;
}

/**
 * The one error type of the toolkit: an UPPER_SNAKE `code`, an HTTP `status`, and a message
 * that tells the reader what to do about it.
 *
 * @example
 * ```ts
 * throw new FairmindError('NOT_FOUND', 404, 'Model 42 does not exist: check the id.');
 * ```
 */
export class FairmindError extends Error {
  override readonly name = 'FairmindError';
  readonly code: ErrorCodeName;
  readonly status: number;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly expose: boolean;

  constructor(
    code: ErrorCodeName,
    status: number,
    message: string,
    options: FairmindErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (!UPPER_SNAKE.test(code)) {
      throw new TypeError(`[@fairmind/core] error code "${code}" must be UPPER_SNAKE_CASE`);
    }
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new TypeError(
        `[@fairmind/core] error status ${status} must be an HTTP status from 400 to 599`,
      );
    }
    this.code = code;
    this.status = status;
    this.details = options.details;
    this.headers = options.headers;
    this.expose = options.expose ?? status < 500;
  }
}

/** True for a {@link FairmindError}, including one from another copy of this package. */
export function isFairmindError(value: unknown): value is FairmindError {
  return (
    value instanceof FairmindError ||
    (value instanceof Error &&
      value.name === 'FairmindError' &&
      typeof (value as { code?: unknown }).code === 'string' &&
      typeof (value as { status?: unknown }).status === 'number')
  );
}

/**
 * The first error in `error`'s cause chain, `error` itself first, that `matches`: drivers and
 * callers wrap errors, and what decides the answer (a SQLSTATE, a configuration error) is
 * often a few causes down. At most `depth` errors are looked at, so a cycle cannot hang it.
 *
 * @param depth how many errors of the chain to look at
 * @default depth 10
 * @example
 * ```ts
 * const refused = findCause(error, (cause) => (cause as NodeJS.ErrnoException).code === 'ECONNREFUSED');
 * ```
 */
export function findCause<T extends Error>(
  error: unknown,
  matches: (cause: Error) => cause is T,
  depth?: number,
): T | undefined;
export function findCause(
  error: unknown,
  matches: (cause: Error) => boolean,
  depth?: number,
): Error | undefined;
export function findCause(
  error: unknown,
  matches: (cause: Error) => boolean,
  depth = 10,
): Error | undefined {
  let current = error;
  for (let seen = 0; seen < depth && current instanceof Error; seen++) {
    if (matches(current)) return current;
    current = current.cause;
  }
  return undefined;
}

/** An RFC 9457 problem details object as the toolkit sends it. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  [extension: string]: unknown;
}

/** The media type of {@link ProblemDetails} (RFC 9457 section 3). */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

// Titles from the IANA HTTP status registry; RFC 9457 wants a short, stable summary.
const STATUS_TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The registry title of an HTTP status, or a generic one for unlisted codes. */
export function statusTitle(status: number): string {
  return STATUS_TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}

// Extension members may not shadow the standard ones (RFC 9457 section 3.2).
const RESERVED = new Set(['type', 'title', 'status', 'detail', 'code', 'instance']);

/** Options of {@link toProblem}. */
export interface ToProblemOptions {
  /**
   * Base URI of the problem `type`; the code, lower-cased with dashes, is appended.
   * `about:blank` is used when unset, as RFC 9457 section 4.2.1 recommends without docs.
   * @default undefined
   */
  typeBase?: string | undefined;
  /** The request path, sent as `instance`. */
  instance?: string | undefined;
}

/**
 * Turns any thrown value into an RFC 9457 problem. A {@link FairmindError} keeps its code,
 * status, details and (when exposed) message; anything else becomes a 500 `INTERNAL` whose detail
 * says nothing about the cause, so no stack, SQL text or secret ever reaches a client.
 *
 * @example
 * ```ts
 * const problem = toProblem(new FairmindError('FORBIDDEN', 403, 'You need models:write.'));
 * // { type: 'about:blank', title: 'Forbidden', status: 403, detail: 'You need models:write.', code: 'FORBIDDEN' }
 * ```
 */
export function toProblem(error: unknown, options: ToProblemOptions = {}): ProblemDetails {
  const known = isFairmindError(error) ? error : undefined;
  const status = known?.status ?? 500;
  const code = known?.code ?? ErrorCode.INTERNAL;
  const title = statusTitle(status);
  const detail = known?.expose
    ? known.message
    : status >= 500
      ? 'The server could not complete the request. Try again later; if it persists, report the request id.'
      : title;
  const problem: ProblemDetails = {
    type: options.typeBase
      ? `${options.typeBase.replace(/\/$/, '')}/${code.toLowerCase().replaceAll('_', '-')}`
      : 'about:blank',
    title,
    status,
    detail,
    code,
  };
  if (options.instance !== undefined) problem['instance'] = options.instance;
  if (known?.details && (known.expose || status < 500)) {
    for (const [key, value] of Object.entries(known.details)) {
      if (!RESERVED.has(key)) problem[key] = value;
    }
  }
  return problem;
}
