import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './index.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  it('redacts credentials wherever the packages log them', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ destination, redact: ['custom.pin'] });
    logger.info(
      {
        req: {
          headers: {
            authorization: 'Bearer abc',
            cookie: 'sid=1',
            'x-api-key': 'fm_k',
            accept: '*/*',
          },
        },
        res: { headers: { 'set-cookie': 'sid=2' } },
        user: { password: 'hunter22', email: 'a@b.c' },
        refreshToken: 'r1',
        custom: { pin: '1234' },
      },
      'request',
    );
    const line = JSON.stringify(lines[0]);
    for (const secret of ['Bearer abc', 'sid=1', 'sid=2', 'fm_k', 'hunter22', '"r1"', '1234']) {
      expect(line).not.toContain(secret);
    }
    expect(line).toContain('a@b.c');
    expect(line).toContain('*/*');
  });

  it('honours level and name', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ destination, level: 'warn', name: 'api' });
    logger.info({}, 'hidden');
    logger.warn({}, 'shown');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'shown', name: 'api', level: 40 });
    expect(typeof lines[0]?.['time']).toBe('string');
  });
});
