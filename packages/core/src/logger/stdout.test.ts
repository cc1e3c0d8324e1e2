import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { batchPerTurn } from './stdout.js';

type Target = ReturnType<typeof pino.destination>;

function recordingTarget() {
  const writes: string[] = [];
  const calls: string[] = [];
  const target = {
    write: (text: string) => writes.push(text) > 0,
    flush: (callback?: () => void) => {
      calls.push('flush');
      callback?.();
    },
    flushSync: () => calls.push('flushSync'),
    end: () => calls.push('end'),
  } as unknown as Target;
  return { target, writes, calls };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('batchPerTurn', () => {
  it('hands the lines of one turn over as one string, in order, once the turn ends', async () => {
    const { target, writes } = recordingTarget();
    const destination = batchPerTurn(target);
    destination.write('a\n');
    destination.write('b\n');
    destination.write('c\n');
    expect(writes).toEqual([]);
    await turn();
    expect(writes).toEqual(['a\nb\nc\n']);
    destination.write('d\n');
    await turn();
    expect(writes).toEqual(['a\nb\nc\n', 'd\n']);
    await turn();
    expect(writes).toHaveLength(2);
  });

  it('hands held lines over before flushing or ending', () => {
    const { target, writes, calls } = recordingTarget();
    const destination = batchPerTurn(target) as ReturnType<typeof batchPerTurn> & {
      flush(callback: () => void): void;
      flushSync(): void;
      end(): void;
    };
    destination.write('a\n');
    let flushed = false;
    destination.flush(() => {
      flushed = true;
    });
    expect(writes).toEqual(['a\n']);
    expect(flushed).toBe(true);
    destination.write('b\n');
    destination.flushSync();
    destination.write('c\n');
    destination.end();
    expect(writes).toEqual(['a\n', 'b\n', 'c\n']);
    expect(calls).toEqual(['flush', 'flushSync', 'end']);
  });
});

describe('createLogger on stdout', () => {
  const logger = fileURLToPath(new URL('./index.ts', import.meta.url));
  const run = (body: string) =>
    execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { createLogger } from ${JSON.stringify(logger)};
const logger = createLogger({ name: 'exit-test' });
${body}`,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    )
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { msg: string }).msg);

  it('writes every line, in order, when the process exits in the turn that logged them', () => {
    const body = `for (let i = 0; i < 2000; i++) logger.info({ i }, 'line ' + i);
setImmediate(() => { logger.info('after a turn'); logger.warn('last'); process.exit(0); });`;
    const lines = run(body);
    expect(lines).toHaveLength(2002);
    expect(lines.slice(0, 2)).toEqual(['line 0', 'line 1']);
    expect(lines.slice(-3)).toEqual(['line 1999', 'after a turn', 'last']);
  });

  it('writes the lines logged before an uncaught error ends the process', () => {
    let output = '';
    try {
      run(`logger.info('before'); logger.error('failing'); throw new Error('boom');`);
    } catch (error) {
      output = String((error as { stdout?: string }).stdout);
    }
    const lines = output
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(lines).toEqual(['before', 'failing']);
  });
});
