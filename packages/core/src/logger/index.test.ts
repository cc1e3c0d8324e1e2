import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { lineWriterOf } from '../log/index.js';
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

describe('the line writer of createLogger', () => {
  const fields = { requestId: 'r-1', path: '/a "quoted" \\ path\n', status: 200, ms: 1.25 };
  const serialized = Object.entries(fields)
    .map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`)
    .join(',');

  /** Each line without its time, which differs between two calls. */
  const timeless = (lines: Record<string, unknown>[]) =>
    lines.map(({ time, ...rest }) => {
      expect(typeof time).toBe('string');
      return rest;
    });

  it('writes the line pino writes for the same object, on the logger and its children', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ destination, name: 'api' });
    const write = lineWriterOf(logger);
    expect(write).toBeTypeOf('function');
    const child = logger.child({ component: 'http' });
    for (const target of [logger, child]) {
      target.warn(fields, 'message "one"');
      write?.(target, 'warn', serialized, 'message "one"');
    }
    const [pinoRoot, ownRoot, pinoChild, ownChild] = timeless(lines);
    expect(ownRoot).toEqual(pinoRoot);
    expect(ownChild).toEqual(pinoChild);
    expect(ownChild).toMatchObject({ component: 'http', level: 40, name: 'api' });
  });

  it('honours the level, and hands lines a child reshapes back to pino', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ destination, level: 'warn' });
    const write = lineWriterOf(logger);
    write?.(logger, 'info', serialized, 'below the level');
    expect(lines).toHaveLength(0);
    const child = logger.child(
      { component: 'x' },
      { redact: ['path'], serializers: { status: () => 'serialized' } },
    );
    write?.(child, 'error', serialized, 'through pino');
    expect(timeless(lines)).toEqual([
      expect.objectContaining({ path: '[Redacted]', status: 'serialized', msg: 'through pino' }),
    ]);
  });

  it('is not there when the logger redacts more or formats lines its own way', () => {
    const { destination } = capture();
    expect(lineWriterOf(createLogger({ destination, redact: ['path'] }))).toBeUndefined();
    expect(
      lineWriterOf(
        createLogger({ destination, pino: { formatters: { level: (label) => ({ label }) } } }),
      ),
    ).toBeUndefined();
    expect(
      lineWriterOf(createLogger({ destination, pino: { messageKey: 'message' } })),
    ).toBeUndefined();
  });
});
