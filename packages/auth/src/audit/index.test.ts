import { describe, expect, it } from 'vitest';
import { auditEvent, createLoggerAuditSink, createMemoryAuditSink, scrubDetails } from './index.js';

describe('audit events', () => {
  it('drops secret-looking names and values', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl';
    expect(
      scrubDetails({
        password: 'hunter22',
        refreshToken: 'anything',
        note: `leaked ${jwt}`,
        key: 'fm_live_0123456789abcdef_0123456789abcdef0123456789abcdefXXXXXX',
        hashValue: '$2b$12$abc',
        apiKeyId: '0123456789abcdef',
        count: 3,
        list: ['ok', jwt],
        skipped: undefined,
      }),
    ).toEqual({
      password: '[redacted]',
      refreshToken: '[redacted]',
      note: '[redacted]',
      key: '[redacted]',
      hashValue: '[redacted]',
      apiKeyId: '0123456789abcdef',
      count: 3,
      list: ['ok', '[redacted]'],
    });
  });

  it('builds events with an id and an ISO time, and writes them to the logger', () => {
    const event = auditEvent('login.failure', {
      ip: '192.0.2.1',
      details: { reason: 'wrong password' },
      at: 0,
    });
    expect(event).toMatchObject({
      type: 'login.failure',
      actorId: null,
      ip: '192.0.2.1',
      at: '1970-01-01T00:00:00.000Z',
    });
    expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
    const lines: Array<[string, object, string | undefined]> = [];
    const logger = {
      info: (obj: object, msg?: string) => lines.push(['info', obj, msg]),
      warn: (obj: object, msg?: string) => lines.push(['warn', obj, msg]),
      error: () => {},
      debug: () => {},
      child: () => logger,
    };
    const sink = createLoggerAuditSink(logger);
    sink.write(event);
    sink.write(auditEvent('token.reuse', {}));
    expect(lines.map(([level, , msg]) => [level, msg])).toEqual([
      ['info', '[@fairmind/auth] audit login.failure'],
      ['warn', '[@fairmind/auth] audit token.reuse'],
    ]);
    const memory = createMemoryAuditSink(2);
    for (let index = 0; index < 3; index++)
      memory.write(auditEvent('logout', { details: { index } }));
    expect(memory.events.map((item) => item.details['index'])).toEqual([1, 2]);
  });
});
