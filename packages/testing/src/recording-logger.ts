/** A logger that keeps what it is given, for tests that assert what a package logged. */
export interface RecordingLogger {
  /** The objects passed to `error()`, in order. */
  readonly errors: object[];
  /** The objects passed to `warn()`, in order. */
  readonly warns: object[];
  error(obj: object, message?: string): void;
  warn(obj: object, message?: string): void;
  info(obj: object, message?: string): void;
  debug(obj: object, message?: string): void;
  child(bindings: object): RecordingLogger;
}

/**
 * A logger with the shape of `@fairmind/core`'s `Logger` that records errors and warnings
 * (children record into the same lists), so a test can check that a 5xx was logged once and
 * a 4xx was not.
 *
 * @example
 * ```ts
 * const logger = recordingLogger();
 * await app.inject({ url: '/fail' });
 * expect(logger.errors).toHaveLength(1);
 * ```
 */
export function recordingLogger(): RecordingLogger {
  const errors: object[] = [];
  const warns: object[] = [];
  const logger: RecordingLogger = {
    errors,
    warns,
    error: (obj) => errors.push(obj),
    warn: (obj) => warns.push(obj),
    info() {},
    debug() {},
    child: () => logger,
  };
  return logger;
}
