import { describe, expect, it } from 'vitest';
import { toMs } from './index.js';

describe('toMs', () => {
  it('reads numbers as milliseconds and strings with a unit', () => {
    expect(toMs('ttl', 250)).toBe(250);
    expect(toMs('ttl', '500ms')).toBe(500);
    expect(toMs('ttl', '1.5s')).toBe(1_500);
    expect(toMs('ttl', '5m')).toBe(300_000);
    expect(toMs('ttl', '1h')).toBe(3_600_000);
    expect(toMs('ttl', '7d')).toBe(604_800_000);
    expect(toMs('grace', 0)).toBe(0);
  });

  it('names the option in its error', () => {
    expect(() => toMs('ttl', 0, 1)).toThrow(
      /^\[@fairmind\/cache\] ttl must be a number of milliseconds of at least 1/,
    );
    expect(() => toMs('grace', '5 minutes')).toThrow(/grace must be/);
    expect(() => toMs('grace', Number.NaN)).toThrow(/grace must be/);
    expect(() => toMs('grace', '1w')).toThrow(/got "1w"/);
  });
});
