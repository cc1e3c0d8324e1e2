import { describe, expect, it } from 'vitest';
import { uuidv7 } from './index.js';

describe('uuidv7', () => {
  it('has the version and variant bits of RFC 9562', () => {
    expect(uuidv7()).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it('encodes the millisecond and sorts in creation order within one', () => {
    const at = Date.UTC(2030, 0, 1);
    const ids = Array.from({ length: 5000 }, () => uuidv7(at));
    expect(ids[0]?.replaceAll('-', '').slice(0, 12)).toBe(at.toString(16).padStart(12, '0'));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
