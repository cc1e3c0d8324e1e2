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
