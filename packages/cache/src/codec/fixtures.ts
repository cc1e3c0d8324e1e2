// Test data shared by the codec and cache tests; not part of the build.

/** Every complex type the cache promises, nested in one another. */
export function complexSample() {
  const sparse: unknown[] = [1];
  sparse[3] = 4;
  return {
    date: new Date('2026-11-25T12:34:56.789Z'),
    invalidDate: new Date(Number.NaN),
    map: new Map<unknown, unknown>([
      ['a', 1],
      [2, new Set([new Date(0), 10n])],
      [{ k: 1 }, [undefined, Number.NaN]],
    ]),
    set: new Set(['x', 1, null]),
    big: 12345678901234567890123456789n,
    negativeBig: -5n,
    buffer: Buffer.from('héllo\u0000world'),
    bytes: new Uint8Array([0, 1, 254, 255]),
    floats: new Float64Array([1.5, -0, Number.POSITIVE_INFINITY]),
    ints: new Int32Array([-1, 2 ** 31 - 1]),
    bigInts: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]),
    clamped: new Uint8ClampedArray([300 as number, -5]),
    arrayBuffer: new Uint16Array([1, 65535]).buffer,
    undefinedValue: undefined,
    nan: Number.NaN,
    inf: Number.POSITIVE_INFINITY,
    negInf: Number.NEGATIVE_INFINITY,
    negativeZero: -0,
    sparse,
    nested: [{ deeper: new Map([['when', new Date(1)]]) }],
    plain: { a: [1, 'two', true, null], b: { c: 'd' } },
  };
}
