import { describe, expect, it } from 'vitest';
import { toIsoTime } from './index.js';

describe('toIsoTime', () => {
  it('writes a Date, epoch milliseconds and ISO text as one ISO 8601 UTC form', () => {
    const expected = '2026-12-05T10:00:00.000Z';
    expect(toIsoTime(new Date(Date.UTC(2026, 11, 5, 10)))).toBe(expected);
    expect(toIsoTime(Date.UTC(2026, 11, 5, 10))).toBe(expected);
    expect(toIsoTime('2026-12-05T10:00:00Z')).toBe(expected);
    expect(toIsoTime('2026-12-05T11:00:00+01:00')).toBe(expected);
  });

  it('refuses what is not a time instead of writing "Invalid Date"', () => {
    expect(() => toIsoTime('yesterday')).toThrow(/expected a time, got "yesterday"/);
    expect(() => toIsoTime(Number.NaN)).toThrow(/expected a time, got number/);
    expect(() => toIsoTime(null as unknown as string)).toThrow(/expected a time, got object/);
  });
});
