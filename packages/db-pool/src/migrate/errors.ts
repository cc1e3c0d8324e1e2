import { FairmindError } from '@fairmind/core';

export const PREFIX = '[@fairmind/db-pool]';

export function migrationError(code: string, message: string, cause?: unknown): FairmindError {
  return new FairmindError(code, 500, `${PREFIX} ${message}`, cause === undefined ? {} : { cause });
}

/** An error's message without our prefix, for quoting inside another of our messages. */
export function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.startsWith(`${PREFIX} `) ? message.slice(PREFIX.length + 1) : message;
}
