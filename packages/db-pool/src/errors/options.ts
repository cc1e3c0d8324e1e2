// This package's option errors; not exported from the package (see ./index.ts for those).
import { type FairmindError, type OptionScope, optionScopeError } from '@fairmind/core';

/** Where this package's option checks (`checkOption` from `@fairmind/core`) report. */
export const OPTIONS: OptionScope = { pkg: '@fairmind/db-pool' };

/** The same, showing the value given: `..., got 0`. */
export const OPTIONS_GOT: OptionScope = {
  ...OPTIONS,
  got: (value) => `, got ${JSON.stringify(value)}`,
};

/** Options refused at creation, naming the option. */
export function invalid(option: string, problem: string): FairmindError {
  return optionScopeError(OPTIONS, `${option} ${problem}`);
}

/** An `INVALID_OPTIONS` error with a message of its own (no option name in front). */
export function invalidUse(message: string, cause?: unknown): FairmindError {
  return optionScopeError(OPTIONS, message, cause);
}
