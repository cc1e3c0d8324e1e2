import { describe, expect, it } from 'vitest';
import {
  booleanOption,
  functionOption,
  integerOption,
  oneOfOption,
  optionsObject,
  stringListOption,
} from './index.js';

describe('option checks', () => {
  it('return defaults for undefined and the value when valid', () => {
    expect(optionsObject('f', undefined)).toEqual({});
    expect(integerOption('f', { name: 'n', value: undefined, fallback: 7, min: 1 })).toBe(7);
    expect(integerOption('f', { name: 'n', value: 3, fallback: 7, min: 1, max: 5 })).toBe(3);
    expect(booleanOption('f', 'b', false, true)).toBe(false);
    expect(
      oneOfOption('f', { name: 'o', value: 'b', allowed: ['a', 'b'] as const, fallback: 'a' }),
    ).toBe('b');
    expect(stringListOption('f', 'l', ' one ', [])).toEqual(['one']);
    expect(functionOption('f', 'fn', undefined)).toBeUndefined();
  });

  it('throw INVALID_OPTIONS naming the factory, the option and the value', () => {
    const cases: Array<[() => unknown, string]> = [
      [
        () => optionsObject('f', 5 as never),
        '[@fairmind/edge] f: options must be an object, got 5.',
      ],
      [
        () => integerOption('f', { name: 'n', value: 9, fallback: 1, min: 1, max: 5 }),
        '[@fairmind/edge] f: n must be a whole number from 1 to 5, got 9.',
      ],
      [
        () => integerOption('f', { name: 'n', value: '2', fallback: 1, min: 1 }),
        '[@fairmind/edge] f: n must be a whole number of at least 1, got "2".',
      ],
      [
        () => booleanOption('f', 'b', 1, true),
        '[@fairmind/edge] f: b must be true or false, got 1.',
      ],
      [
        () =>
          oneOfOption('f', { name: 'o', value: 'c', allowed: ['a', 'b'] as const, fallback: 'a' }),
        "[@fairmind/edge] f: o must be one of 'a', 'b', got \"c\".",
      ],
      [() => functionOption('f', 'fn', 'x'), '[@fairmind/edge] f: fn must be a function, got "x".'],
      [
        () => stringListOption('f', 'l', [1], []),
        '[@fairmind/edge] f: l must be a list of non-empty strings, got [1].',
      ],
    ];
    for (const [call, message] of cases) {
      expect(call).toThrow(message);
      try {
        call();
      } catch (error) {
        expect(error).toMatchObject({ code: 'INVALID_OPTIONS', status: 500 });
      }
    }
  });
});
