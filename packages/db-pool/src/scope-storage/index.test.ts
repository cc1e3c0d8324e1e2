import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ScopeStorage } from './index.js';

describe('ScopeStorage', () => {
  it('gives each async context its innermost scope while any is open', async () => {
    const storage = new ScopeStorage<string>();
    expect(storage.getStore()).toBeUndefined();
    const seen: Array<string | undefined> = [];
    await Promise.all([
      storage.run('a', async () => {
        await sleep(5);
        seen.push(storage.getStore());
        await storage.run('a.1', async () => {
          await sleep(5);
          seen.push(storage.getStore());
        });
        seen.push(storage.getStore());
      }),
      storage.run('b', async () => {
        await sleep(2);
        seen.push(storage.getStore());
      }),
    ]);
    expect(seen.sort()).toEqual(['a', 'a', 'a.1', 'b']);
    expect(storage.getStore()).toBeUndefined();
  });

  it('is switched off when the last scope closes, so a timer that outlives it finds none', async () => {
    const storage = new ScopeStorage<string>();
    let late: Promise<string | undefined> | undefined;
    await storage.run('scope', async () => {
      late = sleep(20).then(() => storage.getStore());
    });
    // A plain AsyncLocalStorage would still hand the timer its scope, a connection given back.
    expect(await late).toBeUndefined();
    // And it comes back on for the next scope.
    expect(await storage.run('again', async () => storage.getStore())).toBe('again');
  });

  it('keeps its scope for a scope still open when another closes', async () => {
    const storage = new ScopeStorage<string>();
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const long = storage.run('long', async () => {
      await held;
      return storage.getStore();
    });
    await storage.run('short', async () => undefined);
    release();
    expect(await long).toBe('long');
  });

  it('leaves another AsyncLocalStorage of the process alone', async () => {
    const theirs = new AsyncLocalStorage<string>();
    const storage = new ScopeStorage<string>();
    await theirs.run('request', async () => {
      await storage.run('scope', async () => sleep(1));
      await sleep(1);
      expect(theirs.getStore()).toBe('request');
    });
  });

  it('closes its scope when fn throws', async () => {
    const storage = new ScopeStorage<string>();
    await expect(
      storage.run('scope', async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(storage.getStore()).toBeUndefined();
  });
});
