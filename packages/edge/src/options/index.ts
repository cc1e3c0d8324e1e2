import {
  booleanRule,
  type ClientIpResolver,
  type ClientIpResolverOptions,
  createClientIpResolver,
  type FairmindError,
  functionRule,
  type OptionScope,
  oneOfRule,
  optionOrDefault,
  optionScopeError,
  wholeNumberRule,
} from '@fairmind/core';

/** The prefix of every message and log line of this package. */
export const PKG = '@fairmind/edge';

/**
 * The error for a bad option: `INVALID_OPTIONS`, naming the factory and the option, so the
 * message says where to look (`[@fairmind/edge] rateLimit: limit must be ...`).
 */
export function optionError(factory: string, message: string, cause?: unknown): FairmindError {
  return optionScopeError({ pkg: PKG, factory }, message, cause);
}

function shown(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Validates the options argument itself: `undefined` becomes `{}`. */
export function optionsObject<T extends object>(factory: string, options: T | undefined): T {
  if (options === undefined) return {} as T;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw optionError(factory, `options must be an object, got ${shown(options)}.`);
  }
  return options;
}

// The checks themselves are core's (@fairmind/core options): here they are only bound to
// this package's wording, `factory: name must be ..., got <value>.`
function scope(factory: string): OptionScope {
  return { pkg: PKG, factory, got: (value) => `, got ${shown(value)}.` };
}

/** An integer option as {@link integerOption} checks it. */
export interface IntegerOption {
  readonly name: string;
  readonly value: unknown;
  readonly fallback: number;
  readonly min: number;
  /** @default Number.MAX_SAFE_INTEGER */
  readonly max?: number | undefined;
}

/** An integer option within `[min, max]`, or its default when `undefined`. */
export function integerOption(factory: string, option: IntegerOption): number {
  const { name, value, fallback, min, max = Number.MAX_SAFE_INTEGER } = option;
  const rule = wholeNumberRule({ min, max });
  return optionOrDefault(scope(factory), { name, value, rule, fallback });
}

/** A boolean option, or its default when `undefined`. */
export function booleanOption(
  factory: string,
  name: string,
  value: unknown,
  fallback: boolean,
): boolean {
  return optionOrDefault(scope(factory), { name, value, rule: booleanRule, fallback });
}

const quoted = (entry: string) => `'${entry}'`;

/** A string option as {@link oneOfOption} checks it. */
export interface OneOfOption<T extends readonly string[]> {
  readonly name: string;
  readonly value: unknown;
  readonly allowed: T;
  readonly fallback: T[number];
}

/** One of a fixed set of strings, or its default when `undefined`. */
export function oneOfOption<const T extends readonly string[]>(
  factory: string,
  option: OneOfOption<T>,
): T[number] {
  const { name, value, allowed, fallback } = option;
  return optionOrDefault(scope(factory), {
    name,
    value,
    rule: oneOfRule(allowed, quoted),
    fallback,
  });
}

/** A function option, or `undefined`. */
export function functionOption<F extends (...args: never[]) => unknown>(
  factory: string,
  name: string,
  value: unknown,
): F | undefined {
  return optionOrDefault(scope(factory), {
    name,
    value,
    rule: functionRule,
    fallback: undefined,
  }) as F | undefined;
}

/** A list of non-empty strings (a single string is a list of one), or its default. */
export function stringListOption(
  factory: string,
  name: string,
  value: unknown,
  fallback: readonly string[],
): readonly string[] {
  if (value === undefined) return fallback;
  const list = typeof value === 'string' ? [value] : value;
  if (
    !Array.isArray(list) ||
    list.some((entry) => typeof entry !== 'string' || entry.trim() === '')
  ) {
    throw optionError(factory, `${name} must be a list of non-empty strings, got ${shown(value)}.`);
  }
  return list.map((entry: string) => entry.trim());
}

/**
 * The client IP resolver a middleware uses: the shared one it was given, or its own built
 * from `trustedProxies` (which the core checks, refusing trust-everyone lists).
 */
export function clientIpOption(
  factory: string,
  clientIp: unknown,
  trustedProxies: ClientIpResolverOptions['trustedProxies'],
): ClientIpResolver {
  if (clientIp === undefined) {
    return createClientIpResolver(trustedProxies === undefined ? {} : { trustedProxies });
  }
  if (
    typeof clientIp !== 'function' ||
    typeof (clientIp as ClientIpResolver).isHttps !== 'function'
  ) {
    throw optionError(factory, 'clientIp must be a resolver from createClientIpResolver().');
  }
  return clientIp as ClientIpResolver;
}

export { shown };
