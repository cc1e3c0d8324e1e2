import { type Exchange, requestPath } from '../contract/index.js';
import { type FairmindError, isFairmindError } from '../errors/index.js';

/**
 * The logging surface every FairMind package accepts. A pino logger satisfies it (and is
 * what `createLogger` from `@fairmind/core/logger` returns), but any object with these
 * methods works, so the capability packages do not depend on pino.
 */
export interface Logger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/**
 * A logger that discards everything: the default where a package is given none, so that a
 * library never writes to a user's stdout uninvited.
 */
export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  child() {
    return silentLogger;
  },
};

/** The levels a {@link LineWriter} writes at. */
export type LineLevel = 'info' | 'warn' | 'error';

/**
 * Writes one log line whose fields are already JSON: `fields` is the inside of an object
 * (`"a":1,"b":"x"`, no braces), written as the logger would write `logger[level](object,
 * message)` for the same object, but without building the object or running the logger's
 * serializers and redaction over it. Only for fields that need neither.
 */
export type LineWriter = (
  logger: Logger,
  level: LineLevel,
  fields: string,
  message: string,
) => void;

/** Where `createLogger` from `@fairmind/core/logger` leaves its {@link LineWriter}. */
const LINE_WRITER: unique symbol = Symbol.for('@fairmind/core.lineWriter') as never;

/**
 * The fast line writer of `logger`, when it has one: loggers made by `createLogger` from
 * `@fairmind/core/logger` without options that change how a line is formatted (formatters,
 * mixins, hooks, serializers, a message key or prefix, extra redaction paths) and their
 * children. `undefined` for any other logger, which then gets its usual `logger[level]()`.
 *
 * @example
 * ```ts
 * const write = lineWriterOf(logger);
 * if (write) write(logger, 'info', `"status":200,"path":${JSON.stringify(path)}`, 'done');
 * else logger.info({ status: 200, path }, 'done');
 * ```
 */
export function lineWriterOf(logger: Logger): LineWriter | undefined {
  const writer = (logger as { [LINE_WRITER]?: unknown })[LINE_WRITER];
  return typeof writer === 'function' ? (writer as LineWriter) : undefined;
}

/** Gives `logger` (and so its children) a {@link LineWriter}; for `createLogger` only. */
export function attachLineWriter(logger: object, writer: LineWriter): void {
  Object.defineProperty(logger, LINE_WRITER, { value: writer, enumerable: false });
}

/** A failed request as {@link logRequestFailure} logs it. */
export interface RequestFailure {
  /** Where the line goes. */
  readonly logger: Logger;
  /** The package the line names, such as `'@fairmind/node'`. */
  readonly pkg: string;
  /** The status of the problem reply the client got. */
  readonly status: number;
  /** What failed. */
  readonly error: unknown;
  /** The request, when there is one: its method, path and request id go on the line. */
  readonly exchange: Exchange | undefined;
}

/**
 * Logs what a problem reply did not tell the client, with what an operator needs to find the
 * request: the request id the client was told to report (the request-log middleware's), the
 * method and the path (without the query, which carries tokens more often than the path
 * does). A 5xx is logged at `error` with its error; a 4xx whose message was withheld
 * (`expose: false`, such as a database constraint error naming tables) at `warn` with that
 * message. A 4xx the client was told about in full is left to the request log line. Every
 * adapter logs its failures through this, so the line is the same whichever framework runs.
 *
 * @example
 * ```ts
 * logRequestFailure({ logger, pkg: '@fairmind/node', status: 500, error, exchange });
 * // {"level":50,"err":{...},"requestId":"5f0c…","method":"GET","path":"/api/v1/models","status":500,
 * //  "msg":"[@fairmind/node] GET /api/v1/models failed with 500"}
 * ```
 */
export function logRequestFailure(failure: RequestFailure): void {
  const { logger, pkg, status, error, exchange } = failure;
  const withheld = status < 500 && isFairmindError(error) && !error.expose;
  if (status < 500 && !withheld) return;
  const request = exchange?.request;
  const method = request?.method ?? '-';
  const path = request === undefined ? '-' : requestPath(request.url);
  const requestId = (exchange?.state as { requestId?: unknown } | undefined)?.requestId;
  const fields = { err: error, requestId, method, path, status };
  if (withheld) {
    logger.warn(
      fields,
      `[${pkg}] ${method} ${path} refused with ${status} ${(error as FairmindError).code}, without telling the client: ${(error as Error).message}`,
    );
  } else {
    logger.error(fields, `[${pkg}] ${method} ${path} failed with ${status}`);
  }
}
