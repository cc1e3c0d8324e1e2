import type { OptionScope } from '@fairmind/core';

/**
 * Where this package's option checks (`checkOption` from `@fairmind/core`) report. Kept out
 * of ./index.ts, which the package exports.
 */
export const OPTIONS: OptionScope = { pkg: '@fairmind/auth' };
