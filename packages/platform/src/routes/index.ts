import { validationProblem } from '@fairmind/edge';
import type { z } from 'zod';

/** The JSON body limit of HTTP-API.md. */
export const BODY_LIMIT = 1_048_576;

/** The value `schema` parses from `value` (a query, synchronously), or the 400 naming each field. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: 'body' | 'query',
): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationProblem(result.error.issues, where);
  return result.data;
}
