import { describe, expect, it } from 'vitest';
import {
  booleanRule,
  checkOption,
  durationMsRule,
  functionRule,
  nonEmptyStringRule,
  numberRule,
  type OptionScope,
  oneOfRule,
  optionOrDefault,
  optionScopeError,
  wholeNumberRule,
} from './index.js';

const AUTH: OptionScope = { pkg: '@fairmind/auth' };
const EDGE: OptionScope = {
  pkg: '@fairmind/edge',
  factory: 'cors',
  got: (value) => `, got ${JSON.stringify(value)}.`,
};

function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('option rules', () => {
  it('word whole numbers the ways the packages do', () => {
    expect(wholeNumberRule({ min: 4, max: 31, note: ' (bcrypt log2 rounds)' }).expected).toBe(
      'a whole number from 4 to 31 (bcrypt log2 rounds)',
    );
    expect(wholeNumberRule({ min: 1 }).expected).toBe('a whole number of at least 1');
    expect(wholeNumberRule({ min: 0, open: 'or more' }).expected).toBe('a whole number, 0 or more');
    expect(wholeNumberRule({ min: 1, open: 'sign', unit: ' of seconds' }).expected).toBe(
      'a positive whole number of seconds',
    );
    expect(wholeNumberRule({ min: 0, open: 'sign', noun: 'integer' }).expected).toBe(
      'a non-negative integer',
    );
    expect(wholeNumberRule({ min: 2, noun: 'integer' }).expected).toBe('an integer of at least 2');
    expect(durationMsRule({ max: 86_400_000 }).expected).toBe(
      'a whole number of milliseconds from 1 to 86400000',
    );
  });

  it('word and accept finite numbers', () => {
    expect(numberRule({ min: 64 }).expected).toBe('a number of at least 64');
    expect(numberRule({ min: 0, max: 1 }).expected).toBe('a number from 0 to 1');
    expect([0.5, 64].map((v) => numberRule().accepts(v))).toEqual([true, true]);
    expect([-1, Number.NaN, Number.POSITIVE_INFINITY, '1'].some(numberRule().accepts)).toBe(false);
  });

  it('accept whole numbers in range only', () => {
    const rule = wholeNumberRule({ min: 1, max: 5 });
    expect([1, 5].map((v) => rule.accepts(v))).toEqual([true, true]);
    expect(
      [0, 6, 2.5, '2', Number.NaN, Number.POSITIVE_INFINITY, undefined].some(rule.accepts),
    ).toBe(false);
    expect(wholeNumberRule().accepts(Number.MAX_SAFE_INTEGER + 1)).toBe(false);
  });

  it('check one-of, strings, booleans and functions', () => {
    const modes = oneOfRule(['ip', 'principal'] as const);
    expect(modes.expected).toBe('one of ip, principal');
    expect(modes.accepts('ip')).toBe(true);
    expect(modes.accepts('IP')).toBe(false);
    expect(oneOfRule(['a', 'b'], (entry) => `'${entry}'`).expected).toBe("one of 'a', 'b'");
    expect(nonEmptyStringRule.accepts('')).toBe(false);
    expect(nonEmptyStringRule.accepts('x')).toBe(true);
    expect(booleanRule.accepts(0)).toBe(false);
    expect(functionRule.accepts(() => 1)).toBe(true);
  });
});

describe('checkOption', () => {
  it('returns the value, or the default for undefined', () => {
    expect(checkOption(AUTH, 'workers', 2, wholeNumberRule({ min: 1, max: 64 }))).toBe(2);
    expect(
      optionOrDefault(EDGE, {
        name: 'maxAge',
        value: undefined,
        rule: wholeNumberRule(),
        fallback: 600,
      }),
    ).toBe(600);
    expect(
      optionOrDefault(EDGE, {
        name: 'now',
        value: undefined,
        rule: functionRule,
        fallback: undefined,
      }),
    ).toBeUndefined();
  });

  it('throws one INVALID_OPTIONS shape, named by package, factory and option', () => {
    const error = thrown(() =>
      checkOption(AUTH, 'lockoutMs', 0, durationMsRule({ max: 86_400_000 })),
    );
    expect(error).toMatchObject({
      code: 'INVALID_OPTIONS',
      status: 500,
      expose: false,
      message:
        '[@fairmind/auth] lockoutMs must be a whole number of milliseconds from 1 to 86400000',
    });
    expect(
      thrown(() =>
        optionOrDefault(EDGE, {
          name: 'credentials',
          value: 'yes',
          rule: booleanRule,
          fallback: false,
        }),
      ),
    ).toMatchObject({
      message: '[@fairmind/edge] cors: credentials must be true or false, got "yes".',
    });
    const cause = new Error('inner');
    expect(optionScopeError(EDGE, 'origins is required.', cause)).toMatchObject({
      code: 'INVALID_OPTIONS',
      message: '[@fairmind/edge] cors: origins is required.',
      cause,
    });
  });
});
