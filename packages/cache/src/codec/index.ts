import { corrupt, unserializable } from '../errors/index.js';

/**
 * The value encoding, written here because no library does exactly this: plain JSON values
 * are stored as they are (readable in `redis-cli`), and anything JSON would change (Date,
 * Map, Set, BigInt, Buffer, typed arrays, undefined, NaN, ±Infinity, -0, array holes) goes
 * through a small tagged tree that is itself JSON. Decoding only ever builds these built-in
 * types from data: there is no eval, no constructor looked up by name outside a fixed list of
 * typed arrays, and no class registry, so a crafted entry cannot run code (the Python seed's
 * pickle could).
 *
 * Tagged nodes are arrays whose first element names the type, e.g. `["D", 1700000000000]`;
 * primitives JSON keeps exactly are left as they are. Shared references are written once per
 * use (a value reachable twice comes back as two copies, as with JSON); cycles are refused.
 */

/** The version of the tagged encoding; a reader refuses entries written with a newer one. */
export const ENCODING_VERSION = 1;

/** An encoded value: the JSON-safe tree, and whether it is the tagged encoding. */
export interface Encoded {
  readonly node: unknown;
  readonly tagged: boolean;
}

// Deeper than this is treated as "not plain", and the tagged encoder then either finds the
// cycle or encodes it (recursion that deep would overflow the stack in JSON.stringify anyway).
const MAX_PLAIN_DEPTH = 512;

const TYPED_ARRAYS = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const;
type TypedArrayName = keyof typeof TYPED_ARRAYS;

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** True when JSON.parse(JSON.stringify(value)) gives back an equal value. */
export function isPlainJson(value: unknown, depth = 0): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'object': {
      if (value === null) return true;
      if (depth > MAX_PLAIN_DEPTH) return false;
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) return false;
        for (let index = 0; index < value.length; index++) {
          if (!(index in value) || !isPlainJson(value[index], depth + 1)) return false;
        }
        return true;
      }
      if (!isPlainObject(value)) return false;
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/**
 * The JSON-safe tree of a value: the value itself when it is plain JSON, else the tagged
 * encoding. Throws `CACHE_UNSERIALIZABLE` (naming the path) for what cannot round-trip.
 */
export function encode(value: unknown): Encoded {
  if (isPlainJson(value)) return { node: value, tagged: false };
  return { node: toTagged(value, '$', new Set()), tagged: true };
}

function bytes(view: ArrayBufferView): string {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('base64');
}

function toTagged(value: unknown, path: string, stack: Set<object>): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isFinite(value) && !Object.is(value, -0)) return value;
      return ['n', Object.is(value, -0) ? '-0' : String(value)];
    case 'undefined':
      return ['u'];
    case 'bigint':
      return ['i', value.toString()];
    case 'object':
      break;
    default:
      throw unserializable(path, `a ${typeof value}`);
  }
  if (value === null) return null;
  if (stack.has(value)) throw unserializable(path, 'a circular reference');
  stack.add(value);
  try {
    return taggedObject(value, path, stack);
  } finally {
    stack.delete(value);
  }
}

function taggedObject(value: object, path: string, stack: Set<object>): unknown {
  if (Array.isArray(value)) {
    const out: unknown[] = ['a'];
    for (let index = 0; index < value.length; index++) {
      out.push(index in value ? toTagged(value[index], `${path}[${index}]`, stack) : ['_']);
    }
    return out;
  }
  if (value instanceof Date) {
    const time = value.getTime();
    return ['D', Number.isNaN(time) ? null : time];
  }
  if (value instanceof Map) {
    const entries: unknown[] = [];
    for (const [key, item] of value) {
      entries.push([toTagged(key, `${path}<key>`, stack), toTagged(item, `${path}<value>`, stack)]);
    }
    return ['M', entries];
  }
  if (value instanceof Set) {
    const items: unknown[] = [];
    for (const item of value) items.push(toTagged(item, `${path}<item>`, stack));
    return ['S', items];
  }
  if (Buffer.isBuffer(value)) return ['B', value.toString('base64')];
  if (ArrayBuffer.isView(value)) {
    const name = value.constructor.name;
    const known = Object.hasOwn(TYPED_ARRAYS, name)
      ? TYPED_ARRAYS[name as TypedArrayName]
      : undefined;
    if (known !== undefined && Object.getPrototypeOf(value) === known.prototype) {
      return ['T', name, bytes(value)];
    }
    throw unserializable(path, `a ${name}`);
  }
  if (value instanceof ArrayBuffer) return ['A', Buffer.from(value).toString('base64')];
  if (!isPlainObject(value)) {
    throw unserializable(path, `an instance of ${value.constructor?.name ?? 'an unknown class'}`);
  }
  const out: Record<string, unknown> = {};
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    define(out, key, toTagged((value as Record<string, unknown>)[key], `${path}.${key}`, stack));
  }
  return ['o', out];
}

// `__proto__` arrives from JSON.parse as an own property; assigning it would set the
// prototype instead, so it is defined like any other key.
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

/** The value of an encoded tree; `tagged` says which encoding it is. */
export function decode(node: unknown, tagged: boolean): unknown {
  return tagged ? fromTagged(node) : node;
}

function base64(value: unknown): Buffer {
  if (typeof value !== 'string') throw corrupt('a binary node does not hold base64 text');
  return Buffer.from(value, 'base64');
}

function fromTagged(node: unknown): unknown {
  if (node === null || typeof node !== 'object') return node;
  if (!Array.isArray(node)) throw corrupt('a tagged entry holds a bare object');
  const tag = node[0];
  switch (tag) {
    case 'a': {
      const out: unknown[] = new Array(node.length - 1);
      for (let index = 1; index < node.length; index++) {
        const item = node[index];
        if (Array.isArray(item) && item.length === 1 && item[0] === '_') continue;
        out[index - 1] = fromTagged(item);
      }
      return out;
    }
    case 'o': {
      const source = node[1];
      if (source === null || typeof source !== 'object' || Array.isArray(source)) {
        throw corrupt('an object node holds no object');
      }
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(source)) {
        define(out, key, fromTagged((source as Record<string, unknown>)[key]));
      }
      return out;
    }
    case 'u':
      return undefined;
    case 'n':
      return special(node[1]);
    case 'i':
      if (typeof node[1] !== 'string' || !/^-?\d+$/.test(node[1])) {
        throw corrupt('a bigint node holds no integer');
      }
      return BigInt(node[1]);
    case 'D':
      if (node[1] !== null && typeof node[1] !== 'number')
        throw corrupt('a date node holds no time');
      return new Date(node[1] === null ? Number.NaN : node[1]);
    case 'M':
      return new Map(pairs(node[1]).map(([key, value]) => [fromTagged(key), fromTagged(value)]));
    case 'S':
      if (!Array.isArray(node[1])) throw corrupt('a set node holds no list');
      return new Set(node[1].map(fromTagged));
    case 'B':
      return base64(node[1]);
    case 'A': {
      const data = base64(node[1]);
      const buffer = new ArrayBuffer(data.length);
      new Uint8Array(buffer).set(data);
      return buffer;
    }
    case 'T':
      return typedArray(node[1], node[2]);
    default:
      throw corrupt(`unknown tag ${JSON.stringify(tag)} in a tagged entry`);
  }
}

function special(text: unknown): number {
  switch (text) {
    case 'NaN':
      return Number.NaN;
    case 'Infinity':
      return Number.POSITIVE_INFINITY;
    case '-Infinity':
      return Number.NEGATIVE_INFINITY;
    case '-0':
      return -0;
    default:
      throw corrupt(`unknown number ${JSON.stringify(text)} in a tagged entry`);
  }
}

function pairs(value: unknown): Array<[unknown, unknown]> {
  if (!Array.isArray(value) || !value.every((pair) => Array.isArray(pair) && pair.length === 2)) {
    throw corrupt('a map node holds no list of pairs');
  }
  return value as Array<[unknown, unknown]>;
}

function typedArray(name: unknown, data: unknown): ArrayBufferView {
  if (typeof name !== 'string' || !Object.hasOwn(TYPED_ARRAYS, name)) {
    throw corrupt(`unknown typed array ${JSON.stringify(name)} in a tagged entry`);
  }
  const Type = TYPED_ARRAYS[name as TypedArrayName];
  const raw = base64(data);
  if (raw.length % Type.BYTES_PER_ELEMENT !== 0)
    throw corrupt(`a ${name} node has a partial element`);
  // A fresh, aligned buffer: the decoded Buffer may share a pool at an unaligned offset.
  const buffer = new ArrayBuffer(raw.length);
  new Uint8Array(buffer).set(raw);
  return new Type(buffer);
}

/**
 * Freezes a value and everything in it, so that one reader of an L1 entry cannot change it
 * under another. Only used on fresh copies the cache made itself (never on a caller's object).
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
