import { describe, expect, it } from 'vitest';
import { type CircuitState, createCircuitBreaker } from './index.js';

function setup(failureThreshold = 3, cooldownMs = 1_000) {
  let now = 0;
  const changes: Array<[CircuitState, CircuitState]> = [];
  const breaker = createCircuitBreaker({
    failureThreshold,
    cooldownMs,
    now: () => now,
    onStateChange: (state, previous) => changes.push([state, previous]),
  });
  return {
    breaker,
    changes,
    advance(ms: number) {
      now += ms;
    },
  };
}

describe('createCircuitBreaker', () => {
  it('opens after the threshold of consecutive failures, not before', () => {
    const { breaker, changes } = setup(3);
    breaker.failure();
    breaker.failure();
    breaker.success();
    breaker.failure();
    breaker.failure();
    expect(breaker.state).toBe('closed');
    expect(breaker.allow()).toBe(true);
    breaker.failure();
    expect(breaker.state).toBe('open');
    expect(breaker.allow()).toBe(false);
    expect(changes).toEqual([['open', 'closed']]);
  });

  it('lets exactly one trial call through after the cooldown', () => {
    const { breaker, advance } = setup(1, 1_000);
    breaker.failure();
    advance(999);
    expect(breaker.allow()).toBe(false);
    advance(1);
    expect(breaker.allow()).toBe(true);
    expect(breaker.state).toBe('half-open');
    expect(breaker.allow()).toBe(false);
  });

  it('closes when the trial succeeds and reopens for a full cooldown when it fails', () => {
    const { breaker, advance, changes } = setup(1, 1_000);
    breaker.failure();
    advance(1_000);
    breaker.allow();
    breaker.failure();
    expect(breaker.state).toBe('open');
    advance(999);
    expect(breaker.allow()).toBe(false);
    advance(1);
    expect(breaker.allow()).toBe(true);
    breaker.success();
    expect(breaker.state).toBe('closed');
    expect(breaker.allow()).toBe(true);
    expect(changes.map(([state]) => state)).toEqual([
      'open',
      'half-open',
      'open',
      'half-open',
      'closed',
    ]);
  });

  it('ignores failures reported while already open', () => {
    const { breaker, advance } = setup(1, 1_000);
    breaker.failure();
    advance(600);
    breaker.failure();
    advance(400);
    expect(breaker.allow()).toBe(true);
  });

  it('closes on reset, forgetting past failures', () => {
    const { breaker, changes } = setup(2, 1_000);
    breaker.failure();
    breaker.reset();
    breaker.failure();
    expect(breaker.state).toBe('closed');
    breaker.failure();
    expect(breaker.state).toBe('open');
    breaker.reset();
    expect(breaker.state).toBe('closed');
    expect(breaker.allow()).toBe(true);
    expect(changes).toEqual([
      ['open', 'closed'],
      ['closed', 'open'],
    ]);
  });

  it('refuses bad options by name', () => {
    expect(() => createCircuitBreaker({ failureThreshold: 0 })).toThrow(/failureThreshold/);
    expect(() => createCircuitBreaker({ cooldownMs: -5 })).toThrow(/cooldownMs/);
    expect(() => createCircuitBreaker({ onStateChange: 'log' as never })).toThrow(
      /onStateChange must be a function/,
    );
    expect(() => createCircuitBreaker({ cooldownMs: 1.5 })).toThrow(
      /\[@fairmind\/core\] createCircuitBreaker: cooldownMs must be a whole number/,
    );
  });
});
