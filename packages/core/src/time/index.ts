/**
 * A time as the FairMind APIs write it: ISO 8601 in UTC with milliseconds
 * (`2026-12-05T10:00:00.000Z`), from what drivers and stores hand back: a `Date` (pg), ISO
 * text (SQLite), or epoch milliseconds (the auth stores).
 *
 * @throws TypeError for anything else, or text no `Date` can read: a time that cannot be
 *   written must not become `"Invalid Date"` in an answer.
 * @example
 * ```ts
 * toIsoTime(new Date(0)); // '1970-01-01T00:00:00.000Z'
 * toIsoTime(0); // '1970-01-01T00:00:00.000Z'
 * toIsoTime('2026-12-05T10:00:00Z'); // '2026-12-05T10:00:00.000Z'
 * ```
 */
export function toIsoTime(value: Date | number | string): string {
  const time =
    value instanceof Date
      ? value
      : typeof value === 'number' || typeof value === 'string'
        ? new Date(value)
        : undefined;
  if (time === undefined || Number.isNaN(time.getTime())) {
    throw new TypeError(`[@fairmind/core] toIsoTime: expected a time, got ${describe(value)}`);
  }
  return time.toISOString();
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : typeof value;
}
