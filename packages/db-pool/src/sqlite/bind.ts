import { invalidParameter } from './errors.js';

/**
 * Converts a bound value to one SQLite stores. SQLite has no boolean, date or JSON type, so
 * they become 1/0, ISO-8601 text and JSON text; read back, they stay in that form.
 */
export function bindValue(value: unknown, index: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'bigint':
      return value;
    case 'boolean':
      return value ? 1 : 0;
    case 'undefined':
      return null;
    case 'object': {
      if (value === null || Buffer.isBuffer(value)) return value;
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw invalidParameter(index, 'is an invalid Date');
        return value.toISOString();
      }
      if (ArrayBuffer.isView(value)) {
        return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      }
      try {
        return JSON.stringify(value) ?? null;
      } catch (error) {
        throw invalidParameter(
          index,
          'cannot be serialized to JSON (a cycle or a bigint inside?)',
          error,
        );
      }
    }
    default:
      throw invalidParameter(index, `is a ${typeof value}, which SQL cannot store`);
  }
}
