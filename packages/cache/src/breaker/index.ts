/** Where a {@link CircuitBreaker} stands. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Settings of {@link CircuitBreaker}. */
export interface BreakerSettings {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** How long the circuit stays open before one probe is let through. */
  resetTimeoutMs: number;
  /** Called on every change of state. */
  onChange?: (state: BreakerState, previous: BreakerState) => void;
  /** The clock, for tests. */
  now?: () => number;
}

/**
 * A consecutive-failure circuit breaker, written here because it is twenty lines and the
 * libraries for it wrap functions in ways that cost more than a Redis GET. Closed: every
 * call goes through. After `failureThreshold` failures in a row it opens and refuses calls
 * for `resetTimeoutMs`; then it half-opens and lets exactly one probe through, whose result
 * closes it again or re-opens it.
 */
export class CircuitBreaker {
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probing = false;
  readonly #settings: BreakerSettings;
  readonly #now: () => number;

  constructor(settings: BreakerSettings) {
    this.#settings = settings;
    this.#now = settings.now ?? Date.now;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** Whether a call may go out now. In half-open, true once: the caller is the probe. */
  allow(): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') {
      if (this.#now() - this.#openedAt < this.#settings.resetTimeoutMs) return false;
      this.#set('half-open');
    }
    if (this.#probing) return false;
    this.#probing = true;
    return true;
  }

  success(): void {
    this.#failures = 0;
    this.#probing = false;
    if (this.#state !== 'closed') this.#set('closed');
  }

  failure(): void {
    this.#probing = false;
    this.#failures++;
    if (this.#state === 'half-open' || this.#failures >= this.#settings.failureThreshold) {
      this.#openedAt = this.#now();
      if (this.#state !== 'open') this.#set('open');
    }
  }

  /** Closes the circuit, e.g. when the connection has just been re-established. */
  reset(): void {
    this.success();
  }

  #set(state: BreakerState): void {
    const previous = this.#state;
    this.#state = state;
    this.#settings.onChange?.(state, previous);
  }
}
