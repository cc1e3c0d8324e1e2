import { describe, expect, it } from 'vitest';
import type { StoreDecision } from '../store/index.js';
import { createMemoryStore, slidingLogStep, slidingWindowStep, type WindowState } from './index.js';

const W = 60_000;
const five = { limit: 5, windowMs: W, cost: 1 };

function clock(start: number) {
  let now = start;
  return {
    now: () => now,
    set(value: number) {
      now = value;
    },
  };
}

function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

describe('sliding window counter', () => {
  it('weights the previous window by how much of it still overlaps', () => {
    let state: WindowState | undefined;
    const at = (now: number, cost = 1) => {
      const step = slidingWindowStep(state, now, { limit: 10, windowMs: W, cost });
      if (step.decision.allowed) state = step.state;
      return step.decision;
    };
    for (let index = 0; index < 10; index++) expect(at(30_000).allowed).toBe(true);
    expect(at(59_999).allowed).toBe(false);
    // 15 s into the next window, 3/4 of the previous window overlaps: 7.5 of 10 used.
    expect(at(75_000)).toEqual({ allowed: true, remaining: 1, retryMs: 45_000 });
    expect(at(75_000)).toEqual({ allowed: true, remaining: 0, retryMs: 45_000 });
    expect(at(75_000).allowed).toBe(false);
    // Two windows later nothing overlaps.
    expect(at(180_000, 10)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('keeps its promise: refused until retryMs has passed, allowed from then on', () => {
    const random = prng(7);
    for (let trial = 0; trial < 300; trial++) {
      const time = clock(Math.floor(random() * 10 * W));
      const store = createMemoryStore({ now: time.now, maxKeys: 4 });
      const limit = 1 + Math.floor(random() * 20);
      // Fill the key with a random history, then ask until refused.
      let denied: StoreDecision | undefined;
      for (let step = 0; step < 200 && denied === undefined; step++) {
        time.set(time.now() + Math.floor(random() * (W / limit)));
        const decision = store.consume('k', { limit, windowMs: W, cost: 1 }) as StoreDecision;
        if (!decision.allowed) denied = decision;
      }
      if (denied === undefined) continue;
      const refusedAt = time.now();
      time.set(refusedAt + denied.retryMs - 1);
      expect((store.consume('k', { limit, windowMs: W, cost: 1 }) as StoreDecision).allowed).toBe(
        false,
      );
      time.set(refusedAt + denied.retryMs);
      expect((store.consume('k', { limit, windowMs: W, cost: 1 }) as StoreDecision).allowed).toBe(
        true,
      );
    }
  });

  it('does not hand out a fresh window when the clock steps back', () => {
    const time = clock(10 * W);
    const store = createMemoryStore({ now: time.now });
    for (let index = 0; index < 5; index++) store.consume('k', five);
    time.set(9 * W + 1_000);
    expect((store.consume('k', five) as StoreDecision).allowed).toBe(false);
  });
});

describe('sliding log', () => {
  it('is exact: never more than the limit in any window-long span', () => {
    const random = prng(11);
    const times: number[] = [];
    const allowedAt: number[] = [];
    let now = 0;
    for (let index = 0; index < 2_000; index++) {
      now += Math.floor(random() * 2_000);
      if (slidingLogStep(times, now, five).allowed) allowedAt.push(now);
    }
    for (let index = 0; index + 5 < allowedAt.length; index++) {
      // The 6th allowed request after any allowed one is at least a window later.
      expect(
        (allowedAt[index + 5] as number) - (allowedAt[index] as number),
      ).toBeGreaterThanOrEqual(W);
    }
    expect(allowedAt.length).toBeGreaterThan(50);
  });

  it('says when the oldest units leave the window', () => {
    const times: number[] = [];
    slidingLogStep(times, 1_000, { limit: 3, windowMs: W, cost: 1 });
    slidingLogStep(times, 2_000, { limit: 3, windowMs: W, cost: 1 });
    expect(slidingLogStep(times, 3_000, { limit: 3, windowMs: W, cost: 1 })).toEqual({
      allowed: true,
      remaining: 0,
      retryMs: 58_000,
    });
    // Two units need the two oldest entries gone: the one from 2 s expires at 62 s.
    expect(slidingLogStep(times, 10_000, { limit: 3, windowMs: W, cost: 2 })).toEqual({
      allowed: false,
      remaining: 0,
      retryMs: 52_000,
    });
    expect(slidingLogStep(times, 62_000, { limit: 3, windowMs: W, cost: 2 }).allowed).toBe(true);
  });
});

describe.each(['sliding-window', 'sliding-log'] as const)(
  '%s at a window boundary',
  (algorithm) => {
    it('refuses a burst right after the boundary: never twice the limit', () => {
      const time = clock(0);
      const store = createMemoryStore({ algorithm, now: time.now });
      const burst = (size: number) =>
        Array.from({ length: size }, () => store.consume('k', five) as StoreDecision).filter(
          (decision) => decision.allowed,
        ).length;
      time.set(59_900);
      const before = burst(5);
      time.set(60_100);
      expect(before + burst(50)).toBe(5);
    });
  },
);

describe('createMemoryStore', () => {
  it('forgets the least recently used keys past maxKeys', () => {
    const store = createMemoryStore({ maxKeys: 2 });
    for (let index = 0; index < 5; index++) store.consume('a', five);
    store.consume('b', five);
    store.consume('c', five);
    expect((store.consume('a', five) as StoreDecision).remaining).toBe(4);
  });

  it('refuses bad options by name', () => {
    expect(() => createMemoryStore({ algorithm: 'fixed' as 'sliding-log' })).toThrow(
      /algorithm must be one of 'sliding-window', 'sliding-log'/,
    );
    expect(() => createMemoryStore({ maxKeys: 0 })).toThrow(/maxKeys/);
    expect(() => createMemoryStore({ now: 5 as unknown as () => number })).toThrow(
      /now must be a function/,
    );
  });
});
