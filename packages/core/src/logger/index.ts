import { type DestinationStream, type LoggerOptions, type Logger as PinoLogger, pino } from 'pino';

/**
 * Paths pino blanks in every line. Credentials live in these places in request logs and in
 * the objects the packages log; a user adds more through `redact`.
 */
export const DEFAULT_REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'password',
  '*.password',
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'refreshToken',
  '*.refreshToken',
  'secret',
  '*.secret',
  'apiKey',
  '*.apiKey',
];

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /**
   * Minimum level written.
   * @default 'info'
   */
  level?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' | undefined;
  /**
   * Bound to every line as `name`, to tell services apart.
   * @default 'fairmind'
   */
  name?: string | undefined;
  /**
   * Extra paths to redact, added to {@link DEFAULT_REDACT_PATHS}.
   * @default []
   */
  redact?: readonly string[] | undefined;
  /**
   * Where lines go; tests pass a stream to read them back.
   * @default stdout
   */
  destination?: DestinationStream | undefined;
  /** Any other pino option, applied last. */
  pino?: Omit<LoggerOptions, 'level' | 'name' | 'redact'> | undefined;
}

/**
 * A pino logger with the toolkit's redaction and an ISO timestamp. It satisfies the
 * `Logger` interface every package accepts; create one per process and pass it down.
 *
 * @example
 * ```ts
 * import { createLogger } from '@fairmind/core/logger';
 * const logger = createLogger({ level: 'debug', name: 'api' });
 * logger.info({ port: 3000 }, 'listening');
 * ```
 */
export function createLogger(options: CreateLoggerOptions = {}): PinoLogger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    name: options.name ?? 'fairmind',
    redact: { paths: [...DEFAULT_REDACT_PATHS, ...(options.redact ?? [])], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...options.pino,
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

export type { PinoLogger };
