import { describe, expect, it } from 'vitest';
import { type BreakerState, CircuitBreaker } from './index.js';

function breaker() {
  let now = 0;
  const changes: Array<[BreakerState, BreakerState]> = [];
  const subject = new CircuitBreaker({
    failureThreshold: 3,
    resetTimeoutMs: 1_000,
    now: () => now,
    onChange: (state, previous) => changes.push([state, previous]),
  });
  return {
    subject,
    changes,
    advance(ms: number) {
      now += ms;
    },
  };
}

describe('CircuitBreaker', () => {
  it('opens after consecutive failures only', () => {
    const { subject, changes } = breaker();
    subject.failure();
    subject.failure();
    subject.success();
    subject.failure();
    subject.failure();
    expect(subject.state).toBe('closed');
    expect(subject.allow()).toBe(true);
    subject.failure();
    expect(subject.state).toBe('open');
    expect(subject.allow()).toBe(false);
    expect(changes).toEqual([['open', 'closed']]);
  });

  it('half-opens after the reset timeout and lets exactly one probe through', () => {
    const { subject, advance, changes } = breaker();
    for (let i = 0; i < 3; i++) subject.failure();
    advance(999);
    expect(subject.allow()).toBe(false);
    advance(1);
    expect(subject.allow()).toBe(true);
    expect(subject.state).toBe('half-open');
    expect(subject.allow()).toBe(false);
    subject.success();
    expect(subject.state).toBe('closed');
    expect(subject.allow()).toBe(true);
    expect(changes.map(([state]) => state)).toEqual(['open', 'half-open', 'closed']);
  });

  it('re-opens when the probe fails, for another full timeout', () => {
    const { subject, advance } = breaker();
    for (let i = 0; i < 3; i++) subject.failure();
    advance(1_000);
    expect(subject.allow()).toBe(true);
    subject.failure();
    expect(subject.state).toBe('open');
    advance(500);
    expect(subject.allow()).toBe(false);
    advance(500);
    expect(subject.allow()).toBe(true);
    subject.reset();
    expect(subject.state).toBe('closed');
  });
});
