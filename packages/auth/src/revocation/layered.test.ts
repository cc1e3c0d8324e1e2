import { describe, expect, it } from 'vitest';
import {
  createMemoryRevocationStore,
  type DurableRevocationStore,
  type RevocationReason,
  type RevocationStore,
} from './index.js';
import { createLayeredRevocationStore } from './layered.js';

const T0 = 1_800_000_000_000;

/** A memory store with the durable store's mark, as the SQL one keeps it. */
function durableStore(now: () => number): DurableRevocationStore & { marks: number[] } {
  const inner = createMemoryRevocationStore({ now });
  const marks: number[] = [];
  return {
    ...inner,
    marks,
    async markUnreplicated(at) {
      marks.push(at);
    },
    async unreplicatedBefore() {
      return marks.length === 0 ? 0 : Math.max(...marks);
    },
  };
}

/** A memory store that can be switched off, or frozen, or told to answer 'reset'. */
function fastStore(now: () => number) {
  const inner = createMemoryRevocationStore({ now });
  const state = { down: false, frozen: false, reset: false };
  const gate = <T>(work: () => T | Promise<T>): Promise<T> => {
    if (state.frozen) return new Promise<T>(() => {});
    if (state.down) return Promise.reject(new Error('ECONNREFUSED'));
    return Promise.resolve(work());
  };
  const store: RevocationStore = {
    revokeToken: (...args) => gate(() => inner.revokeToken(...args)),
    revokeFamily: (...args) => gate(() => inner.revokeFamily(...args)),
    revokeSubject: (...args) => gate(() => inner.revokeSubject(...args)),
    check: (query) =>
      gate(async (): Promise<RevocationReason | null> => {
        const reason = await inner.check(query);
        return reason ?? (state.reset ? 'reset' : null);
      }),
  };
  return { store, state };
}

function setup() {
  let clock = T0;
  const now = () => clock;
  const durable = durableStore(now);
  const fast = fastStore(now);
  const layered = createLayeredRevocationStore({
    fast: fast.store,
    durable,
    fastTimeoutMs: 20,
    refreshMs: 1000,
    now,
  });
  return {
    layered,
    durable,
    fast,
    advance(ms: number) {
      clock += ms;
    },
    seconds: () => Math.floor(clock / 1000),
  };
}

describe('the layered revocation store', () => {
  it('writes the durable store first and answers from the fast one', async () => {
    const { layered, durable, fast, seconds } = setup();
    await layered.revokeToken('jti-1', 'ada', seconds() + 600);
    expect(await durable.check({ jti: 'jti-1', sub: 'ada', iat: seconds() })).toBe('token');
    expect(await fast.store.check({ jti: 'jti-1', sub: 'ada', iat: seconds() })).toBe('token');
    expect(await layered.check({ jti: 'jti-1', sub: 'ada', iat: seconds() })).toBe('token');
    expect(durable.marks).toEqual([]);
  });

  it('checks the durable store while the fast one is down or frozen', async () => {
    const { layered, fast, seconds } = setup();
    await layered.revokeToken('jti-1', 'ada', seconds() + 600);
    fast.state.down = true;
    expect(await layered.check({ jti: 'jti-1', sub: 'ada', iat: seconds() })).toBe('token');
    fast.state.down = false;
    fast.state.frozen = true;
    expect(await layered.check({ jti: 'jti-1', sub: 'ada', iat: seconds() })).toBe('token');
    expect(await layered.check({ jti: 'jti-2', sub: 'ada', iat: seconds() })).toBeNull();
  });

  it('keeps a revocation the fast store missed, for tokens issued before it, on every instance', async () => {
    const { layered, durable, fast, advance, seconds } = setup();
    const issued = seconds();
    advance(5_000);
    fast.state.down = true;
    await layered.revokeToken('jti-1', 'ada', issued + 600);
    expect(durable.marks).toEqual([T0 + 5_000]);
    // The fast store is back, without the revocation: the durable store still answers for
    // tokens issued before the mark.
    fast.state.down = false;
    expect(await layered.check({ jti: 'jti-1', sub: 'ada', iat: issued })).toBe('token');

    // Another instance learns of the mark from the durable store, within refreshMs.
    const other = createLayeredRevocationStore({
      fast: fast.store,
      durable,
      now: () => T0 + 6_000,
    });
    expect(await other.check({ jti: 'jti-1', sub: 'ada', iat: issued })).toBe('token');
    // Tokens issued after the mark are answered by the fast store alone.
    expect(await other.check({ jti: 'jti-9', sub: 'ada', iat: issued + 6 })).toBeNull();
  });

  it("asks the durable store about a token the fast store can no longer vouch for ('reset')", async () => {
    const { layered, durable, fast, seconds } = setup();
    await durable.revokeToken('jti-1', 'ada', seconds() + 600);
    fast.state.reset = true;
    expect(await layered.check({ jti: 'jti-1', sub: 'ada', iat: seconds() })).toBe('token');
    expect(await layered.check({ jti: 'jti-2', sub: 'ada', iat: seconds() })).toBeNull();
  });

  it('fails a write when the durable store fails, so logout never half-happens', async () => {
    const { fast } = setup();
    const durable = durableStore(() => T0);
    durable.revokeToken = () => Promise.reject(new Error('database down'));
    const layered = createLayeredRevocationStore({ fast: fast.store, durable });
    await expect(layered.revokeToken('jti-1', 'ada', T0 / 1000 + 60)).rejects.toThrow(
      'database down',
    );
    expect(await fast.store.check({ jti: 'jti-1', sub: 'ada', iat: T0 / 1000 })).toBeNull();
  });
});
