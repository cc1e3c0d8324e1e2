import { describe, expect, it } from 'vitest';
import { createLoginThrottle, createMemoryAttemptStore, lockoutMs } from './index.js';

function setup() {
  let current = 1_800_000_000_000;
  const now = () => current;
  const throttle = createLoginThrottle({
    store: createMemoryAttemptStore({ now }),
    now,
    account: { maxFailures: 3, baseLockoutMs: 1000, maxLockoutMs: 8000 },
    ip: { maxFailures: 5, windowMs: 60_000, baseLockoutMs: 60_000 },
  });
  return { throttle, advance: (ms: number) => (current += ms) };
}

async function retryAfter(promise: Promise<unknown>): Promise<string | undefined> {
  const error = (await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )) as { status?: number; headers?: Record<string, string> } | undefined;
  if (error === undefined) return undefined;
  expect(error.status).toBe(429);
  return error.headers?.['Retry-After'];
}

describe('login throttle', () => {
  it('locks an account with exponential back-off, and a success resets it', async () => {
    const { throttle, advance } = setup();
    for (let attempt = 0; attempt < 2; attempt++)
      await throttle.fail('Ada@Example.com', '192.0.2.1');
    expect(await retryAfter(throttle.check('ada@example.com', '192.0.2.2'))).toBeUndefined();
    expect((await throttle.fail('ada@example.com', '192.0.2.3')).lockedForMs).toBe(1000);
    expect(await retryAfter(throttle.check('ADA@example.com', '192.0.2.4'))).toBe('1');
    advance(1000);
    expect(await retryAfter(throttle.check('ada@example.com', undefined))).toBeUndefined();
    expect((await throttle.fail('ada@example.com', '198.51.100.1')).lockedForMs).toBe(2000);
    expect((await throttle.fail('ada@example.com', '198.51.100.2')).lockedForMs).toBe(4000);
    expect((await throttle.fail('ada@example.com', '198.51.100.3')).lockedForMs).toBe(8000);
    expect((await throttle.fail('ada@example.com', '198.51.100.4')).lockedForMs).toBe(8000);
    expect(await retryAfter(throttle.check('ada@example.com', undefined))).toBe('8');
    await throttle.succeed('ada@example.com');
    expect(await retryAfter(throttle.check('ada@example.com', undefined))).toBeUndefined();
  });

  it('limits one IP across accounts, and successes do not reset it', async () => {
    const { throttle, advance } = setup();
    for (let attempt = 0; attempt < 5; attempt++)
      await throttle.fail(`user${attempt}@example.com`, '203.0.113.9');
    await throttle.succeed('user0@example.com');
    expect(await retryAfter(throttle.check('someone@example.com', '203.0.113.9'))).toBe('60');
    expect(await retryAfter(throttle.check('someone@example.com', '203.0.113.10'))).toBeUndefined();
    advance(60_000);
    expect(await retryAfter(throttle.check('someone@example.com', '203.0.113.9'))).toBeUndefined();
  });

  it('computes lockouts and refuses bad limits', () => {
    const limits = { maxFailures: 5, windowMs: 1, baseLockoutMs: 30_000, maxLockoutMs: 3_600_000 };
    expect(lockoutMs(null, limits)).toBe(0);
    expect(lockoutMs({ count: 4, lastFailureAt: 0 }, limits)).toBe(0);
    expect(lockoutMs({ count: 5, lastFailureAt: 0 }, limits)).toBe(30_000);
    expect(lockoutMs({ count: 7, lastFailureAt: 0 }, limits)).toBe(120_000);
    expect(lockoutMs({ count: 500, lastFailureAt: 0 }, limits)).toBe(3_600_000);
    const store = createMemoryAttemptStore();
    expect(() => createLoginThrottle({ store, account: { maxFailures: 0 } })).toThrow(
      /account.maxFailures/,
    );
    expect(() =>
      createLoginThrottle({ store, ip: { baseLockoutMs: 10, maxLockoutMs: 5 } }),
    ).toThrow(/maxLockoutMs/);
  });
});

describe('an unreachable attempt store', () => {
  it('fails the login closed with a 503 instead of leaking the driver error', async () => {
    const broken = {
      get: async () => {
        throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
      },
      fail: async () => {
        throw new Error('down');
      },
      reset: async () => {
        throw new Error('down');
      },
    };
    const throttle = createLoginThrottle({ store: broken });
    await expect(throttle.check('a@b.c', '127.0.0.1')).rejects.toMatchObject({ status: 503 });
    await expect(throttle.fail('a@b.c', '127.0.0.1')).rejects.toMatchObject({ status: 503 });
    await expect(throttle.succeed('a@b.c')).rejects.toMatchObject({ status: 503 });
  });
});
