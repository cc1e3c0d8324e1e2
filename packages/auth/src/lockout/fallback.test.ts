import { describe, expect, it } from 'vitest';
import { createFallbackAttemptStore } from './fallback.js';
import { type AttemptStore, createMemoryAttemptStore } from './index.js';

function switchable() {
  const inner = createMemoryAttemptStore();
  const state = { down: false };
  const gate = <T>(work: () => Promise<T>) =>
    state.down ? Promise.reject(new Error('ECONNREFUSED')) : work();
  const store: AttemptStore = {
    fail: (...args) => gate(() => inner.fail(...args)),
    get: (key) => gate(() => inner.get(key)),
    reset: (key) => gate(() => inner.reset(key)),
  };
  return { store, state };
}

describe('the fallback attempt store', () => {
  it('counts failures in this process while the shared store is away, and keeps them after', async () => {
    const shared = switchable();
    const attempts = createFallbackAttemptStore({ primary: shared.store });
    const t = Date.now();
    await attempts.fail('a:ada', 60_000, t + 1);
    shared.state.down = true;
    await attempts.fail('a:ada', 60_000, t + 2);
    await attempts.fail('a:ada', 60_000, t + 3);
    await attempts.fail('a:ada', 60_000, t + 4);
    expect(await attempts.get('a:ada')).toEqual({ count: 3, lastFailureAt: t + 4 });
    shared.state.down = false;
    // Back: the higher of the two counters holds, so a lockout earned meanwhile still counts.
    expect(await attempts.get('a:ada')).toEqual({ count: 3, lastFailureAt: t + 4 });
    await attempts.fail('a:ada', 60_000, t + 5);
    expect((await attempts.get('a:ada'))?.count).toBe(3);
    await attempts.reset('a:ada');
    expect(await attempts.get('a:ada')).toBeNull();
  });
});
