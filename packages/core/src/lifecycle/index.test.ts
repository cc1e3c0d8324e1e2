import { describe, expect, it, vi } from 'vitest';
import type { Logger } from '../log/index.js';
import { createLifecycle } from './index.js';

function recordingLogger() {
  const lines: Array<{ level: string; obj: object; msg: string | undefined }> = [];
  const logger: Logger = {
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    debug: (obj, msg) => lines.push({ level: 'debug', obj, msg }),
    child: () => logger,
  };
  return { logger, lines };
}

describe('createLifecycle', () => {
  it('runs hooks once, last registered first', async () => {
    const order: string[] = [];
    const lifecycle = createLifecycle();
    lifecycle.onClose('database', async () => {
      order.push('database');
    });
    lifecycle.onClose('http', () => {
      order.push('http');
    });
    expect(lifecycle.closing).toBe(false);
    const first = lifecycle.close();
    expect(lifecycle.closing).toBe(true);
    expect(lifecycle.close()).toBe(first);
    await expect(first).resolves.toBe(true);
    expect(order).toEqual(['http', 'database']);
  });

  it('keeps going after a failing hook and reports failure', async () => {
    const { logger, lines } = recordingLogger();
    const lifecycle = createLifecycle({ logger });
    const closed: string[] = [];
    lifecycle.onClose('db', () => {
      closed.push('db');
    });
    lifecycle.onClose('redis', () => {
      throw new Error('already closed');
    });
    await expect(lifecycle.close()).resolves.toBe(false);
    expect(closed).toEqual(['db']);
    expect(
      lines.some((line) => line.level === 'error' && line.msg?.includes('close hook failed')),
    ).toBe(true);
  });

  it('gives up on the deadline and aborts the hook signal', async () => {
    const { logger, lines } = recordingLogger();
    const lifecycle = createLifecycle({ logger, drainTimeoutMs: 50 });
    let aborted = false;
    const after = vi.fn();
    lifecycle.onClose('after', after);
    lifecycle.onClose('stuck', (signal) => {
      signal.addEventListener('abort', () => {
        aborted = true;
      });
      return new Promise(() => {});
    });
    await expect(lifecycle.close()).resolves.toBe(false);
    expect(aborted).toBe(true);
    expect(after).not.toHaveBeenCalled();
    expect(lines.filter((line) => line.level === 'error')).toHaveLength(2);
  });

  it('unregisters a hook', async () => {
    const lifecycle = createLifecycle();
    const hook = vi.fn();
    const off = lifecycle.onClose('x', hook);
    off();
    await lifecycle.close();
    expect(hook).not.toHaveBeenCalled();
  });

  it('exits 0 after a clean drain on SIGTERM and 1 at once on a second signal', async () => {
    const exits: number[] = [];
    let release: () => void = () => {};
    const lifecycle = createLifecycle({ exit: (code) => exits.push(code), signals: ['SIGUSR2'] });
    lifecycle.onClose('slow', () => new Promise<void>((resolve) => (release = resolve)));
    const off = lifecycle.handleSignals();
    try {
      process.emit('SIGUSR2', 'SIGUSR2');
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(exits).toEqual([]);
      process.emit('SIGUSR2', 'SIGUSR2');
      expect(exits).toEqual([1]);
      release();
      await lifecycle.close();
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect(exits).toEqual([1, 0]);
    } finally {
      off();
    }
  });

  it('refuses a bad deadline at creation', () => {
    expect(() => createLifecycle({ drainTimeoutMs: 0 })).toThrow(/drainTimeoutMs/);
    expect(() => createLifecycle({ drainTimeoutMs: Number.NaN })).toThrow(/positive number/);
  });

  it('tells its deadline, so a close hook can fit its own timers inside it', () => {
    expect(createLifecycle().drainTimeoutMs).toBe(10_000);
    expect(createLifecycle({ drainTimeoutMs: 2_500 }).drainTimeoutMs).toBe(2_500);
  });
});
