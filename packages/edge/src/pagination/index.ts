import { FairmindError } from '@fairmind/core';
import { z } from 'zod';

/**
 * A page of a list, as the FairMind list endpoints return it: `?limit=` (1 to 100, default
 * 20) and `?cursor=` in, `{ items, nextCursor }` out, newest first.
 */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Where a page starts: after the row with this creation time and id (newest first). */
export interface CursorPosition {
  createdAt: string;
  id: string;
}

/**
 * `?limit=&cursor=` checked: limit 1 to 100, default 20; nothing else.
 *
 * @example
 * ```ts
 * const { limit, cursor } = await validate(listQuerySchema, queryObject(context.query), 'query');
 * ```
 */
export const listQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().min(1).max(512).optional(),
  })
  .strict();

/**
 * The cursor of a position. It is opaque to clients but not secret (base64url of the
 * position): tampering with it can only move the page, and a malformed one is a 400.
 *
 * @example
 * ```ts
 * encodeCursor({ createdAt: '2026-12-05T10:00:00.000Z', id: 'n1' });
 * ```
 */
export function encodeCursor(position: CursorPosition): string {
  return toBase64Url(JSON.stringify([position.createdAt, position.id]));
}

// base64url of UTF-8 text with Web APIs only, so this module runs on every runtime edge does.
function toBase64Url(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function fromBase64Url(text: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new TypeError('not base64url');
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return strictUtf8.decode(Uint8Array.from(binary, (char) => char.charCodeAt(0)));
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z$/;

/**
 * The position of a cursor {@link encodeCursor} made; a 400 `VALIDATION_FAILED` otherwise.
 *
 * @example
 * ```ts
 * const after = cursor === undefined ? undefined : decodeCursor(cursor);
 * ```
 */
export function decodeCursor(cursor: string): CursorPosition {
  try {
    const decoded: unknown = JSON.parse(fromBase64Url(cursor));
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

/**
 * A page from `limit + 1` rows: the extra row only says whether another page exists.
 *
 * @example
 * ```ts
 * return json(200, toPage(await notes.list({ after, take: limit + 1 }), limit));
 * ```
 */
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
