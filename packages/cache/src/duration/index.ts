import { numberRule } from '@fairmind/core';
import { invalidOptions } from '../errors/index.js';

/**
 * A duration: milliseconds as a number, or a string such as `'500ms'`, `'30s'`, `'5m'`,
 * `'1h'` or `'1d'`.
 */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

const UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/**
 * Milliseconds of a {@link Duration}, or an `INVALID_OPTIONS` error naming `name`.
 * `min` is the smallest allowed value (0 for grace periods, 1 for TTLs).
 */
export function toMs(name: string, value: unknown, min = 0): number {
  let ms: number | undefined;
  if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') {
    const match = PATTERN.exec(value.trim());
    if (match) ms = Number(match[1]) * (UNITS[match[2] as string] as number);
  }
  if (ms === undefined || !Number.isFinite(ms) || ms < min) {
    const expected = numberRule({ min, unit: ' of milliseconds' }).expected;
    throw invalidOptions(
      `${name} must be ${expected}, or a string like '30s', '5m' or '1h'; got ${JSON.stringify(value)}`,
    );
  }
  return Math.round(ms);
}
