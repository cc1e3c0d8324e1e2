import type { Logger } from '@fairmind/core';
import { type AuditEventType, type AuditSink, auditEvent } from '../audit/index.js';
import { describe, PREFIX } from '../errors/index.js';

/** What the auth methods record: who, from where, and plain-data details (not the time). */
export type AuditFields = Omit<Parameters<typeof auditEvent>[1], 'at'>;

/** Writes one event to every sink; resolves once all have answered. */
export type Audit = (type: AuditEventType, fields: AuditFields) => Promise<void>;

export function createAudit(context: {
  readonly sinks: readonly AuditSink[];
  readonly now: () => number;
  readonly logger: Logger;
}): Audit {
  const { sinks, now, logger } = context;
  return async function audit(type, fields) {
    if (sinks.length === 0) return;
    const event = auditEvent(type, { ...fields, at: now() });
    await Promise.all(
      sinks.map(async (sink) => {
        try {
          await sink.write(event);
        } catch (error) {
          // The audit trail must not take the request down with it; the log keeps the event.
          logger.error({ audit: event, error: describe(error) }, `${PREFIX} an audit sink failed`);
        }
      }),
    );
  };
}
