import { invalidOptions } from '../contract/index.js';
import type { FairmindError } from '../errors/index.js';

/**
 * Where a bad option is reported: every check of this module throws the same
 * `INVALID_OPTIONS` {@link FairmindError} (status 500, not exposed), its message
 * `[pkg] factory: name must be <expected><got>`.
 *
 * @example
 * ```ts
 * const scope: OptionScope = { pkg: '@fairmind/auth' };
 * checkOption(scope, 'lockoutMs', 0, durationMsRule({ max: 86_400_000 }));
 * // throws "[@fairmind/auth] lockoutMs must be a whole number of milliseconds from 1 to 86400000"
 * ```
 */
export interface OptionScope {
  /** The package named in brackets at the start of the message, such as `'@fairmind/edge'`. */
  readonly pkg: string;
  /**
   * The factory named before the option (`cors: maxAge must be ...`).
   * @default none: the message starts with the option's name
   */
  readonly factory?: string | undefined;
  /**
   * What follows the expectation, usually the value given, such as
   * `` (value) => `, got ${JSON.stringify(value)}` ``.
   * @default nothing: the value is not shown (it may be a secret)
   */
  readonly got?: ((value: unknown) => string) | undefined;
}

/**
 * What an option must be: a test, and the words that say it after "must be".
 *
 * @example
 * ```ts
 * const port: OptionRule<number> = wholeNumberRule({ min: 1, max: 65535 });
 * port.accepts(8080); // true
 * port.expected; // 'a whole number from 1 to 65535'
 * ```
 */
export interface OptionRule<T> {
  /** The words after "must be", such as `'a whole number from 1 to 64'`. */
  readonly expected: string;
  /** Whether `value` meets the rule. */
  accepts(value: unknown): value is T;
}

/** The bounds and the wording of {@link wholeNumberRule}. */
export interface WholeNumberRuleOptions {
  /**
   * The smallest value allowed.
   * @default 0
   */
  min?: number | undefined;
  /**
   * The largest value allowed; without one the message names the lower bound only.
   * @default Number.MAX_SAFE_INTEGER
   */
  max?: number | undefined;
  /**
   * Words after the noun, such as `' of milliseconds'`.
   * @default ''
   */
  unit?: string | undefined;
  /**
   * How an open range is worded: `'of at least'` (`a whole number of at least 1`),
   * `'or more'` (`a whole number, 0 or more`) or `'sign'` (`a positive whole number` for a
   * minimum of 1, `a non-negative whole number` for 0, else as `'of at least'`).
   * @default 'of at least'
   */
  open?: 'of at least' | 'or more' | 'sign' | undefined;
  /**
   * The noun.
   * @default 'whole number'
   */
  noun?: 'whole number' | 'integer' | undefined;
  /**
   * Words after the range, such as `' (bcrypt log2 rounds)'`.
   * @default ''
   */
  note?: string | undefined;
}

/**
 * A whole number from `min` to `max`: a `number` for which `Number.isInteger` holds (so
 * never `NaN`, `Infinity` or a numeric string).
 *
 * @example
 * ```ts
 * wholeNumberRule({ min: 4, max: 31, note: ' (bcrypt log2 rounds)' }).expected;
 * // 'a whole number from 4 to 31 (bcrypt log2 rounds)'
 * wholeNumberRule({ min: 0, open: 'or more' }).expected; // 'a whole number, 0 or more'
 * ```
 */
export function wholeNumberRule(options: WholeNumberRuleOptions = {}): OptionRule<number> {
  const {
    min = 0,
    max = Number.MAX_SAFE_INTEGER,
    unit = '',
    open = 'of at least',
    noun = 'whole number',
    note = '',
  } = options;
  const a = noun === 'integer' ? 'an' : 'a';
  let range: string;
  if (max !== Number.MAX_SAFE_INTEGER) range = `${a} ${noun}${unit} from ${min} to ${max}`;
  else if (open === 'sign' && (min === 0 || min === 1)) {
    range = `a ${min === 1 ? 'positive' : 'non-negative'} ${noun}${unit}`;
  } else if (open === 'or more') range = `${a} ${noun}${unit}, ${min} or more`;
  else range = `${a} ${noun}${unit} of at least ${min}`;
  return {
    expected: `${range}${note}`,
    accepts: (value: unknown): value is number =>
      typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max,
  };
}

/**
 * A duration in whole milliseconds, positive unless `min` says otherwise: a
 * {@link wholeNumberRule} worded `a whole number of milliseconds ...`.
 *
 * @example
 * ```ts
 * durationMsRule({ max: 60_000 }).expected;
 * // 'a whole number of milliseconds from 1 to 60000'
 * ```
 */
export function durationMsRule(
  options: Omit<WholeNumberRuleOptions, 'noun'> = {},
): OptionRule<number> {
  return wholeNumberRule({ unit: ' of milliseconds', ...options, min: options.min ?? 1 });
}

/** The bounds and the wording of {@link numberRule}. */
export interface NumberRuleOptions {
  /**
   * The smallest value allowed.
   * @default 0
   */
  min?: number | undefined;
  /**
   * The largest value allowed; without one the message names the lower bound only.
   * @default Number.MAX_VALUE
   */
  max?: number | undefined;
  /**
   * Words after the noun, such as `' of milliseconds'`.
   * @default ''
   */
  unit?: string | undefined;
}

/**
 * A finite number (fractions allowed) from `min` to `max`.
 *
 * @example
 * ```ts
 * numberRule({ min: 64 }).expected; // 'a number of at least 64'
 * numberRule({ min: 0, max: 1 }).accepts(0.25); // true
 * ```
 */
export function numberRule(options: NumberRuleOptions = {}): OptionRule<number> {
  const { min = 0, max = Number.MAX_VALUE, unit = '' } = options;
  const range = max === Number.MAX_VALUE ? `of at least ${min}` : `from ${min} to ${max}`;
  return {
    expected: `a number${unit} ${range}`,
    accepts: (value: unknown): value is number =>
      typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max,
  };
}

/**
 * One of a fixed list of strings.
 *
 * @example
 * ```ts
 * oneOfRule(['ip', 'principal'] as const).expected; // 'one of ip, principal'
 * oneOfRule(['a', 'b'], (entry) => `'${entry}'`).expected; // "one of 'a', 'b'"
 * ```
 */
export function oneOfRule<const T extends readonly string[]>(
  allowed: T,
  show: (entry: string) => string = (entry) => entry,
): OptionRule<T[number]> {
  return {
    expected: `one of ${allowed.map(show).join(', ')}`,
    accepts: (value: unknown): value is T[number] =>
      typeof value === 'string' && (allowed as readonly string[]).includes(value),
  };
}

/**
 * A string with at least one character.
 *
 * @example
 * ```ts
 * checkOption({ pkg: '@fairmind/auth' }, 'kid', '', nonEmptyStringRule);
 * // throws "[@fairmind/auth] kid must be a non-empty string"
 * ```
 */
export const nonEmptyStringRule: OptionRule<string> = {
  expected: 'a non-empty string',
  accepts: (value: unknown): value is string => typeof value === 'string' && value !== '',
};

/**
 * `true` or `false`.
 *
 * @example
 * ```ts
 * optionOrDefault(
 *   { pkg: '@fairmind/edge', factory: 'cors' },
 *   { name: 'credentials', value: undefined, rule: booleanRule, fallback: false },
 * ); // false
 * ```
 */
export const booleanRule: OptionRule<boolean> = {
  expected: 'true or false',
  accepts: (value: unknown): value is boolean => typeof value === 'boolean',
};

/**
 * Any function.
 *
 * @example
 * ```ts
 * checkOption({ pkg: '@fairmind/auth' }, 'roleOf', options.roleOf, functionRule);
 * ```
 */
export const functionRule: OptionRule<(...args: never[]) => unknown> = {
  expected: 'a function',
  accepts: (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function',
};

/**
 * The `INVALID_OPTIONS` error of a scope, for problems no rule words:
 * `[pkg] factory: <message>`.
 *
 * @example
 * ```ts
 * throw optionScopeError({ pkg: '@fairmind/edge', factory: 'cors' }, 'origins is required.');
 * ```
 */
export function optionScopeError(
  scope: OptionScope,
  message: string,
  cause?: unknown,
): FairmindError {
  const where = scope.factory === undefined ? '' : `${scope.factory}: `;
  return invalidOptions(scope.pkg, `${where}${message}`, cause);
}

/**
 * `value` when it meets `rule`; otherwise throws `INVALID_OPTIONS`
 * (`[pkg] factory: name must be <rule.expected><scope.got(value)>`).
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming the option.
 * @example
 * ```ts
 * const AUTH: OptionScope = { pkg: '@fairmind/auth' };
 * const workers = checkOption(AUTH, 'workers', options.workers ?? 2, wholeNumberRule({ min: 1, max: 64 }));
 * ```
 */
export function checkOption<T>(
  scope: OptionScope,
  name: string,
  value: unknown,
  rule: OptionRule<T>,
): T {
  if (rule.accepts(value)) return value;
  throw optionScopeError(scope, `${name} must be ${rule.expected}${scope.got?.(value) ?? ''}`);
}

/** An option as {@link optionOrDefault} checks it. */
export interface DefaultedOption<T, D = T> {
  /** The option's name, as the error names it. */
  readonly name: string;
  /** What the caller gave; `undefined` when it gave nothing. */
  readonly value: unknown;
  /** What `value` must meet when given. */
  readonly rule: OptionRule<T>;
  /** What `value` stands for when it is `undefined`. */
  readonly fallback: D;
}

/**
 * `fallback` when `value` is `undefined`, else {@link checkOption}.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming the option.
 * @example
 * ```ts
 * const maxAge = optionOrDefault(scope, {
 *   name: 'maxAge',
 *   value: options.maxAge,
 *   rule: wholeNumberRule(),
 *   fallback: 600,
 * });
 * ```
 */
export function optionOrDefault<T, D = T>(
  scope: OptionScope,
  option: DefaultedOption<T, D>,
): T | D {
  const { value } = option;
  return value === undefined
    ? option.fallback
    : checkOption(scope, option.name, value, option.rule);
}
