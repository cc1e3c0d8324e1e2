import { FairmindError, type OptionScope, optionScopeError } from '@fairmind/core';

/** The prefix of every message and log line of this package. */
export const PKG = '[@fairmind/cache]';

/** Where this package's option checks (`checkOption` from `@fairmind/core`) report. */
export const OPTIONS: OptionScope = {
  pkg: '@fairmind/cache',
  got: (value) => `, got ${JSON.stringify(value)}`,
};

/** A bad option, found when the cache (or helper) is created: the message names the option. */
export function invalidOptions(message: string, cause?: unknown): FairmindError {
  return optionScopeError({ pkg: OPTIONS.pkg }, message, cause);
}

/** A bad argument to a cache call (an empty key, a negative ttl): a programming error. */
export function invalidArgument(message: string): FairmindError {
  return new FairmindError('CACHE_INVALID_ARGUMENT', 500, `${PKG} ${message}`);
}

/**
 * A value the cache cannot store exactly (a function, a symbol, a class instance, a cycle).
 * Thrown by `set` before anything is written, so nothing is lost.
 */
export function unserializable(path: string, what: string): FairmindError {
  return new FairmindError(
    'CACHE_UNSERIALIZABLE',
    500,
    `${PKG} cannot store ${what} at ${path}: cache plain JSON values, Date, Map, Set, BigInt, Buffer, typed arrays, undefined, NaN and ±Infinity; convert class instances to plain objects first`,
  );
}

/** Stored text that is not a cache entry this version can read; the entry is treated as a miss. */
export function corrupt(message: string): FairmindError {
  return new FairmindError('CACHE_CORRUPT_ENTRY', 500, `${PKG} ${message}`);
}

/** Calls on a closed cache. */
export function closedError(): FairmindError {
  return new FairmindError(
    'CACHE_CLOSED',
    500,
    `${PKG} the cache has been closed: create a new one with createCache() instead of using it after close()`,
  );
}
