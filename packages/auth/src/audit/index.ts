import { randomUUID } from 'node:crypto';
import { type Logger, toIsoTime } from '@fairmind/core';
import { PREFIX } from '../errors/index.js';

/** The events of the audit trail (HTTP-API.md, `GET /api/v1/audit`). */
export const AUDIT_EVENT_TYPES = [
  'login.success',
  'login.failure',
  'login.locked',
  'login.unavailable',
  'token.refresh',
  'token.reuse',
  'logout',
  'logout.everywhere',
  'user.created',
  'user.updated',
  'user.deleted',
  'apikey.created',
  'apikey.revoked',
  'permission.denied',
] as const;

/** One of {@link AUDIT_EVENT_TYPES}. */
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** A detail value: plain data only. */
export type AuditDetail = string | number | boolean | null | readonly string[];

/** One audit event. It never holds a password, a token or a key secret. */
export interface AuditEvent {
  readonly id: string;
  readonly type: AuditEventType;
  /** Who acted (user id), or `null` when unknown (a failed login for an unknown email). */
  readonly actorId: string | null;
  /** The client IP, when known. */
  readonly ip: string | null;
  /** ISO 8601 UTC. */
  readonly at: string;
  readonly details: Readonly<Record<string, AuditDetail>>;
}

/** Where audit events go. A sink that throws loses that event, never the request. */
export interface AuditSink {
  write(event: AuditEvent): void | Promise<void>;
}

// Secrets have shapes: a JWT (three base64url parts), an API key of this package, a bcrypt
// hash. Detail names that say secret are dropped whatever they hold.
const SECRET_NAME = /pass(word)?|token|secret|authorization|cookie|hash|pepper|^key$/i;
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/;
const API_KEY_SHAPE = /fm_[a-z0-9]+_[A-Za-z0-9]+_[A-Za-z0-9]{20,}/;
const BCRYPT_SHAPE = /\$2[abxy]?\$\d\d\$/;

function looksSecret(value: string): boolean {
  return JWT_SHAPE.test(value) || API_KEY_SHAPE.test(value) || BCRYPT_SHAPE.test(value);
}

/**
 * The details without anything that could be a secret: detail names such as `password` or
 * `token`, and values shaped like a JWT, an API key or a bcrypt hash are replaced by
 * `'[redacted]'`. Events are built from known fields; this is the net under them.
 */
export function scrubDetails(
  details: Readonly<Record<string, AuditDetail | undefined>>,
): Record<string, AuditDetail> {
  const out: Record<string, AuditDetail> = {};
  for (const [name, value] of Object.entries(details)) {
    if (value === undefined) continue;
    if (SECRET_NAME.test(name)) {
      out[name] = '[redacted]';
    } else if (typeof value === 'string') {
      out[name] = looksSecret(value) ? '[redacted]' : value.slice(0, 500);
    } else if (Array.isArray(value)) {
      out[name] = value.map((item: string) =>
        looksSecret(item) ? '[redacted]' : item.slice(0, 200),
      );
    } else {
      out[name] = value as AuditDetail;
    }
  }
  return out;
}

/** Builds an event with a fresh id and the time now. */
export function auditEvent(
  type: AuditEventType,
  fields: {
    actorId?: string | null | undefined;
    ip?: string | null | undefined;
    details?: Readonly<Record<string, AuditDetail | undefined>> | undefined;
    at?: number | undefined;
  },
): AuditEvent {
  return {
    id: randomUUID(),
    type,
    actorId: fields.actorId ?? null,
    ip: fields.ip ?? null,
    at: toIsoTime(fields.at ?? Date.now()),
    details: scrubDetails(fields.details ?? {}),
  };
}

/**
 * A sink that writes each event as one log line (`info`; `warn` for reuse, lockouts and
 * denials), for log-based audit pipelines.
 *
 * @example
 * ```ts
 * const auth = createAuth({ secret, audit: [createLoggerAuditSink(logger)] });
 * ```
 */
export function createLoggerAuditSink(logger: Logger): AuditSink {
  const warn = new Set<AuditEventType>(['token.reuse', 'login.locked', 'permission.denied']);
  return {
    write(event) {
      const line = { audit: event };
      if (warn.has(event.type)) logger.warn(line, `${PREFIX} audit ${event.type}`);
      else logger.info(line, `${PREFIX} audit ${event.type}`);
    },
  };
}

/**
 * A sink that keeps the last `max` events in memory, newest last: for tests and development.
 *
 * @example
 * ```ts
 * const sink = createMemoryAuditSink();
 * // ... after a login:
 * sink.events.at(-1)?.type; // 'login.success'
 * ```
 */
export function createMemoryAuditSink(max = 10_000): AuditSink & { readonly events: AuditEvent[] } {
  const events: AuditEvent[] = [];
  return {
    events,
    write(event) {
      events.push(event);
      if (events.length > max) events.splice(0, events.length - max);
    },
  };
}
