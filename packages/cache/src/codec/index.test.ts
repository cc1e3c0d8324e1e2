import { describe, expect, it } from 'vitest';
import { complexSample } from './fixtures.js';
import { decode, deepFreeze, ENCODING_VERSION, encode, isPlainJson } from './index.js';

function roundTrip(value: unknown): unknown {
  const { node, tagged } = encode(value);
  return decode(JSON.parse(JSON.stringify(node)), tagged);
}

describe('encode', () => {
  it('keeps plain JSON values as they are, so Redis holds readable JSON', () => {
    const value = { name: 'model', tags: ['a', 'b'], risk: 0.5, owner: null, ok: true };
    const { node, tagged } = encode(value);
    expect(tagged).toBe(false);
    expect(JSON.stringify(node)).toBe(JSON.stringify(value));
    expect(isPlainJson('x')).toBe(true);
    expect(isPlainJson([1, [2, { a: 3 }]])).toBe(true);
  });

  it('uses the tagged encoding for anything JSON would change', () => {
    for (const value of [
      undefined,
      Number.NaN,
      -0,
      1n,
      new Date(0),
      { a: undefined },
      // biome-ignore lint/suspicious/noSparseArray: the hole is what is being encoded
      [1, , 3],
      new Map(),
      new Set(),
      Buffer.alloc(1),
      new Uint8Array(1),
    ]) {
      expect(encode(value).tagged).toBe(true);
    }
  });

  it('round-trips every complex type exactly, nested in any way', () => {
    const value = complexSample();
    const back = roundTrip(value) as ReturnType<typeof complexSample>;
    expect(back).toEqual(value);
    expect(Buffer.isBuffer(back.buffer)).toBe(true);
    expect(back.floats).toBeInstanceOf(Float64Array);
    expect(Object.is(back.floats[1], -0)).toBe(true);
    expect(back.bigInts).toBeInstanceOf(BigInt64Array);
    expect(back.arrayBuffer).toBeInstanceOf(ArrayBuffer);
    expect(Object.is(back.negativeZero, -0)).toBe(true);
    expect(Object.hasOwn(back, 'undefinedValue')).toBe(true);
    expect(1 in back.sparse).toBe(false);
    expect(back.sparse).toHaveLength(4);
    expect(Number.isNaN(back.invalidDate.getTime())).toBe(true);
    expect(typeof back.big).toBe('bigint');
  });

  it('round-trips typed arrays that are views into a larger buffer', () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 4, 9]);
    const view = new Uint16Array(backing.buffer, 2, 2);
    const back = roundTrip(view) as Uint16Array;
    expect([...back]).toEqual([...view]);
    expect(back.byteLength).toBe(4);
  });

  it('refuses what cannot round-trip, naming where it is', () => {
    class Model {
      id = 1;
    }
    const cycle: Record<string, unknown> = { a: 1 };
    cycle['self'] = cycle;
    expect(() => encode({ fn: () => 1 })).toThrow(/cannot store a function at \$\.fn/);
    expect(() => encode([Symbol('s')])).toThrow(/a symbol at \$\[0\]/);
    expect(() => encode({ nested: [new Model()] })).toThrow(
      /an instance of Model at \$\.nested\[0\]/,
    );
    expect(() => encode(cycle)).toThrow(/a circular reference at \$\.self/);
    expect(() => encode(new Map([['k', new WeakMap()]]))).toThrow(/an instance of WeakMap/);
    expect(() => encode(new DataView(new ArrayBuffer(1)))).toThrow(/a DataView/);
    let caught: unknown;
    try {
      encode(() => 1);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'CACHE_UNSERIALIZABLE', status: 500 });
  });

  it('keeps a shared reference as two copies, like JSON', () => {
    const shared = new Date(5);
    const back = roundTrip({ a: shared, b: shared }) as { a: Date; b: Date };
    expect(back.a).toEqual(back.b);
    expect(back.a).not.toBe(back.b);
  });
});

describe('decode', () => {
  it('never evaluates code and never touches prototypes', () => {
    const hostile = JSON.parse(
      '["o", {"__proto__": ["o", {"polluted": true}], "constructor": ["o", {"prototype": 1}]}]',
    );
    const back = decode(hostile, true) as Record<string, unknown>;
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.hasOwn(back, '__proto__')).toBe(true);
    const own = JSON.parse('{"__proto__": {"x": 1}}');
    expect(roundTrip(own)).toEqual(own);
  });

  it('refuses unknown tags, constructors and malformed nodes', () => {
    expect(() => decode(['F', 'return process'], true)).toThrow(/unknown tag "F"/);
    expect(() => decode(['T', 'Function', ''], true)).toThrow(/unknown typed array "Function"/);
    expect(() => decode(['T', 'constructor', ''], true)).toThrow(/unknown typed array/);
    expect(() => decode(['T', 'Uint16Array', Buffer.from([1]).toString('base64')], true)).toThrow(
      /partial element/,
    );
    expect(() => decode(['i', '1; process.exit()'], true)).toThrow(/no integer/);
    expect(() => decode(['n', 'Zero'], true)).toThrow(/unknown number/);
    expect(() => decode({ a: 1 }, true)).toThrow(/bare object/);
    expect(() => decode(['M', [[1]]], true)).toThrow(/pairs/);
    expect(() => decode(['D', 'yesterday'], true)).toThrow(/no time/);
    expect(ENCODING_VERSION).toBe(1);
  });

  it('returns plain values untouched', () => {
    const value = { a: 1 };
    expect(decode(value, false)).toBe(value);
  });
});

describe('deepFreeze', () => {
  it('freezes nested objects and arrays', () => {
    const value = deepFreeze({ a: { b: [1, { c: 2 }] } });
    expect(Object.isFrozen(value.a.b[1])).toBe(true);
    expect(() => {
      (value.a.b as unknown[]).push(3);
    }).toThrow(TypeError);
  });
});
