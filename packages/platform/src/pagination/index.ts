import { FairmindError } from '@fairmind/core';
import { z } from 'zod';

/** A page of a list, as every list endpoint returns it. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Where a page starts: after the row with this creation time and id (newest first). */
export interface CursorPosition {
  createdAt: string;
  id: string;
}

/** `?limit=&cursor=` validated: limit 1..100, default 20. */
export const listQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().min(1).max(512).optional(),
  })
  .strict();

/**
 * The cursor is opaque to clients but not secret: base64url of the position. Tampering with
 * it can only move the page, and a malformed one is a 400, never a 500.
 */
export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id]), 'utf8').toString(
    'base64url',
  );
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z$/;

export function decodeCursor(cursor: string): CursorPosition {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(decoded) &&
      decoded.length === 2 &&
      typeof decoded[0] === 'string' &&
      ISO.test(decoded[0]) &&
      typeof decoded[1] === 'string' &&
      decoded[1].length > 0 &&
      decoded[1].length <= 128
    ) {
      return { createdAt: decoded[0], id: decoded[1] };
    }
  } catch {
    // falls through to the error below
  }
  throw new FairmindError(
    'VALIDATION_FAILED',
    400,
    'The cursor is not one this server issued: pass the nextCursor of the previous page unchanged, or leave it out for the first page.',
  );
}

/** Builds a page from `limit + 1` rows: the extra row only says whether another page exists. */
export function toPage<T extends { createdAt: string; id: string }>(
  rows: T[],
  limit: number,
): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items,
    nextCursor:
      rows.length > limit && last ? encodeCursor({ createdAt: last.createdAt, id: last.id }) : null,
  };
}
