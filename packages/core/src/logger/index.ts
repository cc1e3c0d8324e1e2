import { type DestinationStream, type LoggerOptions, type Logger as PinoLogger, pino } from 'pino';
import { attachLineWriter, type LineWriter } from '../log/index.js';
import { batchedStdout } from './stdout.js';

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
   * Where lines go; tests pass a stream to read them back. Without one (and without a pino
   * `transport`), the lines of each turn of the event loop go to stdout in one synchronous
   * write at its end, and those of the last turn when the process exits.
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
  // Without a destination or a transport, stdout as pino would write it, batched per turn
  // of the event loop (see batchedStdout).
  const destination =
    options.destination ?? (config.transport === undefined ? batchedStdout() : undefined);
  const logger = destination ? pino(config, destination) : pino(config);
  if (plainLines(options)) attachLineWriter(logger, pinoLineWriter(logger));
  return logger;
}

// pino options that change what a line holds beyond level, time, bindings and message.
const FORMATTING_OPTIONS = [
  'formatters',
  'mixin',
  'mixinMergeStrategy',
  'hooks',
  'serializers',
  'messageKey',
  'nestedKey',
  'msgPrefix',
  'customLevels',
  'useOnlyCustomLevels',
  'levelComparison',
] as const;

/**
 * Whether lines of pre-serialized fields may skip pino's object path: not when the caller
 * added redaction paths (the defaults name no field such a line holds) or options that
 * reshape lines.
 */
function plainLines(options: CreateLoggerOptions): boolean {
  if ((options.redact?.length ?? 0) > 0) return false;
  const extra = options.pino as Record<string, unknown> | undefined;
  return FORMATTING_OPTIONS.every((name) => extra?.[name] === undefined);
}

const {
  chindingsSym,
  streamSym,
  timeSym,
  needsMetadataGsym,
  formattersSym,
  serializersSym,
  stringifiersSym,
} = pino.symbols;
const isoTime = pino.stdTimeFunctions.isoTime;
let isoMs = -1;
let isoText = '';

/** pino's `isoTime` field, formatted once per millisecond rather than once per line. */
function isoTimeNow(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    isoText = `,"time":"${new Date(now).toISOString()}"`;
  }
  return isoText;
}

// Not in pino's type declarations: a child's `msgPrefix`.
const msgPrefixSym = (pino.symbols as Record<string, symbol>)['msgPrefixSym'];

/**
 * The {@link LineWriter} of a logger `createLogger` made: the line pino itself would write,
 * laid out as pino does (level, time, bindings, fields, message), straight to the
 * destination. By hand, because pino's own path builds and walks an object for every line
 * and runs the redaction over it: the request log's largest cost per request
 * (docs/benchmarks.md). A child with formatters, serializers, redaction or a message prefix
 * of its own, or a destination that needs pino's metadata (pino.multistream), takes pino's
 * own path.
 */
function pinoLineWriter(root: PinoLogger): LineWriter {
  const own = root as unknown as Record<symbol, unknown>;
  const formatters = own[formattersSym];
  const serializers = own[serializersSym];
  const stringifiers = own[stringifiersSym];
  return (logger, level, fields, message) => {
    const target = logger as PinoLogger & Record<symbol, unknown>;
    if (!target.isLevelEnabled(level)) return;
    const stream = target[streamSym] as DestinationStream & Record<symbol, unknown>;
    if (
      target[formattersSym] !== formatters ||
      target[serializersSym] !== serializers ||
      target[stringifiersSym] !== stringifiers ||
      (msgPrefixSym !== undefined && target[msgPrefixSym] !== undefined) ||
      stream[needsMetadataGsym] === true
    ) {
      target[level](JSON.parse(`{${fields}}`) as object, message);
      return;
    }
    const clock = target[timeSym] as () => string;
    const time = clock === isoTime ? isoTimeNow() : clock();
    stream.write(
      `{"level":${target.levels.values[level]}${time}${target[chindingsSym] as string},${fields},"msg":${JSON.stringify(message)}}\n`,
    );
  };
}

export type { PinoLogger };
