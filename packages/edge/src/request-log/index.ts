import {
  type ClientIpResolver,
  type ClientIpResolverOptions,
  type Exchange,
  type FinishInfo,
  type LineLevel,
  type LineWriter,
  type Logger,
  lineWriterOf,
  type Middleware,
  requestPath,
  silentLogger,
} from '@fairmind/core';
import { histogram } from '@fairmind/core/metrics';
import type { Registry } from 'prom-client';
import {
  booleanOption,
  clientIpOption,
  functionOption,
  optionError,
  optionsObject,
  PKG,
  stringListOption,
} from '../options/index.js';

declare module '@fairmind/core' {
  interface FairmindState {
    /** This request's id: the client's valid `X-Request-Id`, or a new UUID. Set by `requestLog()`. */
    requestId?: string;
  }
}

/** Options of {@link requestLog}. */
export interface RequestLogOptions {
  /**
   * Where the line goes; pino's loggers (such as `createLogger()` from
   * `@fairmind/core/logger`) write one JSON line per call.
   * @default silentLogger
   */
  logger?: Logger | undefined;
  /**
   * Where `http_request_duration_seconds{method,route,status_code}` goes; none without one.
   * @default undefined
   */
  registry?: Registry | undefined;
  /**
   * The `route` label of the histogram, read when the response is done, so a router can
   * leave the matched pattern on `exchange.state` for it. Never the raw path: one series
   * per distinct URL would swamp Prometheus.
   * @default () => ''
   */
  route?: ((exchange: Exchange) => string | undefined) | undefined;
  /**
   * Histogram buckets in seconds.
   * @default [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
   */
  buckets?: readonly number[] | undefined;
  /**
   * Request headers to put in the line. Credentials among them (`authorization`, `cookie`,
   * `set-cookie`, `x-api-key`, `proxy-authorization` and `redact`) are logged as
   * `[redacted]`, whatever the logger's own redaction.
   * @default ['user-agent']
   */
  headers?: readonly string[] | undefined;
  /**
   * More header names to redact.
   * @default []
   */
  redact?: readonly string[] | undefined;
  /**
   * Log the query string too. Off by default: queries carry tokens and personal data more
   * often than paths do.
   * @default false
   */
  query?: boolean | undefined;
  /**
   * Requests not to log (still given an id), such as health probes.
   * @default undefined
   */
  skip?: ((exchange: Exchange) => boolean) | undefined;
  /**
   * New ids when the client sent none, or an invalid one.
   * @default crypto.randomUUID
   */
  generateId?: (() => string) | undefined;
  /** Proxies whose `X-Forwarded-For` is believed for the logged `ip`. @default none */
  trustedProxies?: ClientIpResolverOptions['trustedProxies'] | undefined;
  /** A shared client IP resolver; wins over `trustedProxies`. */
  clientIp?: ClientIpResolver | undefined;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const ALWAYS_REDACTED = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
];
const REDACTED = '[redacted]';

/**
 * Whether a client's `X-Request-Id` may be kept: 1-128 characters of `[A-Za-z0-9._:-]`, so
 * it cannot inject anything into a log line or a header.
 *
 * @example
 * ```ts
 * isValidRequestId('req-42'); // true
 * isValidRequestId('a b'); // false
 * ```
 */
export function isValidRequestId(value: string | null | undefined): value is string {
  return typeof value === 'string' && REQUEST_ID.test(value);
}

/**
 * Request ids and one JSON line per request. Each request gets an id (the client's
 * `X-Request-Id` when valid, else a new UUID), echoed in the response's `X-Request-Id` and
 * put on `exchange.state.requestId`. When the response is done (or the client went away)
 * the logger receives `{ requestId, method, path, status, responseTimeMs, bytes, ip }`:
 * at `error` for 5xx, `warn` for 4xx and aborted requests, `info` otherwise. The duration
 * goes into the `http_request_duration_seconds` histogram.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * import { createLogger } from '@fairmind/core/logger';
 * const log = requestLog({ logger: createLogger(), registry, trustedProxies: config.trustedProxies });
 * // {"level":30,"requestId":"5f0c...","method":"GET","path":"/api/v1/models","status":200,
 * //  "responseTimeMs":3.2,"bytes":512,"ip":"203.0.113.7","msg":"[@fairmind/edge] GET /api/v1/models 200"}
 * ```
 */
export function requestLog(options?: RequestLogOptions): Middleware {
  const factory = 'requestLog';
  const opts = optionsObject(factory, options);
  const logger = opts.logger ?? silentLogger;
  if (typeof logger.info !== 'function' || typeof logger.warn !== 'function') {
    throw optionError(
      factory,
      'logger must have info, warn and error methods (a pino logger does).',
    );
  }
  const clientIp = clientIpOption(factory, opts.clientIp, opts.trustedProxies);
  const route = functionOption<(exchange: Exchange) => string | undefined>(
    factory,
    'route',
    opts.route,
  );
  const skip = functionOption<(exchange: Exchange) => boolean>(factory, 'skip', opts.skip);
  const generateId =
    functionOption<() => string>(factory, 'generateId', opts.generateId) ??
    (() => crypto.randomUUID());
  const withQuery = booleanOption(factory, 'query', opts.query, false);
  const logged = stringListOption(factory, 'headers', opts.headers, ['user-agent']).map((h) =>
    h.toLowerCase(),
  );
  const redacted = new Set([
    ...ALWAYS_REDACTED,
    ...stringListOption(factory, 'redact', opts.redact, []).map((h) => h.toLowerCase()),
  ]);
  const duration = durationHistogram(factory, opts);
  const line: LineSettings = {
    logger,
    clientIp,
    withQuery,
    logged,
    redacted,
    write: lineWriterOf(logger),
  };

  return function requestLogMiddleware(exchange) {
    const { request } = exchange;
    const given = request.headers.get('x-request-id');
    const requestId = isValidRequestId(given) ? given : generateId();
    exchange.state.requestId = requestId;
    const headers = { 'x-request-id': requestId };
    const quiet = skip?.(exchange) === true;
    if (quiet && duration === undefined) return { headers };

    const method = request.method;
    return {
      headers,
      onFinish(info: FinishInfo) {
        duration?.observe(
          { method, route: route?.(exchange) ?? '', status_code: String(info.status) },
          info.durationMs / 1000,
        );
        if (quiet) return;
        writeLine(line, exchange, requestId, info);
      },
    };
  };
}

function pathAndQuery(url: string): string {
  if (url.charCodeAt(0) === 47 /* / */) {
    const hash = url.indexOf('#');
    return hash === -1 ? url : url.slice(0, hash);
  }
  const path = requestPath(url);
  const query = url.indexOf('?');
  if (query === -1) return path;
  const hash = url.indexOf('#', query);
  return `${path}${url.slice(query, hash === -1 ? undefined : hash)}`;
}

/** What goes into each line, resolved once. */
interface LineSettings {
  readonly logger: Logger;
  readonly clientIp: ClientIpResolver;
  readonly withQuery: boolean;
  readonly logged: readonly string[];
  readonly redacted: ReadonlySet<string>;
  /** The logger's fast writer of pre-serialized lines, when it has one. */
  readonly write: LineWriter | undefined;
}

/** The duration histogram, or `undefined` without a registry. */
function durationHistogram(factory: string, opts: RequestLogOptions) {
  let buckets: number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  if (opts.buckets !== undefined) {
    if (
      !Array.isArray(opts.buckets) ||
      opts.buckets.length === 0 ||
      opts.buckets.some(
        (b, i, all) => typeof b !== 'number' || !(b > 0) || (i > 0 && b <= (all[i - 1] as number)),
      )
    ) {
      throw optionError(factory, 'buckets must be increasing positive numbers of seconds.');
    }
    buckets = [...opts.buckets];
  }
  return opts.registry
    ? histogram(opts.registry, {
        name: 'http_request_duration_seconds',
        help: 'HTTP request duration from the first middleware to the end of the response.',
        labelNames: ['method', 'route', 'status_code'],
        buckets,
      })
    : undefined;
}

/** Writes the finished request's line, at a level by its outcome. */
function writeLine(
  settings: LineSettings,
  exchange: Exchange,
  requestId: string,
  info: FinishInfo,
): void {
  const { request } = exchange;
  const { logger, logged, redacted, write } = settings;
  const method = request.method;
  const path = settings.withQuery ? pathAndQuery(request.url) : requestPath(request.url);
  const ip = settings.clientIp(exchange).ip;
  const responseTimeMs = Math.round(info.durationMs * 1000) / 1000;
  let headers: Record<string, string> | undefined;
  if (logged.length > 0) {
    headers = {};
    for (const name of logged) {
      const value = request.headers.get(name);
      if (value !== null) headers[name] = redacted.has(name) ? REDACTED : value;
    }
  }
  let level: LineLevel = 'info';
  let message = `[${PKG}] ${method} ${path} ${info.status}`;
  if (info.aborted) {
    level = 'warn';
    message = `[${PKG}] ${method} ${path} aborted by the client`;
  } else if (info.status >= 500) {
    level = 'error';
  } else if (info.status >= 400) {
    level = 'warn';
  }
  if (write !== undefined) {
    // The same fields as the object below, serialized here: every value is a number, or a
    // string through JSON.stringify (the path and headers are the client's to choose).
    let fields =
      `"requestId":${JSON.stringify(requestId)},"method":${JSON.stringify(method)},` +
      `"path":${JSON.stringify(path)},"status":${info.status},` +
      `"responseTimeMs":${responseTimeMs},"bytes":${info.bytes},"ip":${JSON.stringify(ip)}`;
    if (headers !== undefined) fields += `,"headers":${JSON.stringify(headers)}`;
    if (info.aborted) fields += ',"aborted":true';
    write(logger, level, fields, message);
    return;
  }
  const line: Record<string, unknown> = {
    requestId,
    method,
    path,
    status: info.status,
    responseTimeMs,
    bytes: info.bytes,
    ip,
  };
  if (headers !== undefined) line['headers'] = headers;
  if (info.aborted) line['aborted'] = true;
  logger[level](line, message);
}
