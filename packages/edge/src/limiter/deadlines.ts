interface Waiter {
  readonly deadline: number;
  settled: boolean;
  readonly expire: () => void;
}

/**
 * Deadlines for in-flight store calls. Every call has the same timeout, so deadlines come in
 * the order calls start: one queue and one timer serve them all, instead of a timer set and
 * cleared per decision on the hot path.
 */
export class DeadlineQueue {
  readonly #timeoutMs: number;
  #queue: Waiter[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  add(expire: () => void): Waiter {
    const waiter: Waiter = {
      deadline: performance.now() + this.#timeoutMs,
      settled: false,
      expire,
    };
    this.#queue.push(waiter);
    if (this.#timer === undefined) this.#arm(this.#timeoutMs);
    return waiter;
  }

  #arm(delay: number): void {
    this.#timer = setTimeout(this.#fire, delay);
    // Pending decisions must not keep a process alive that is otherwise done.
    this.#timer.unref?.();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const waiter = queue[this.#head] as Waiter;
      if (!waiter.settled) {
        if (waiter.deadline > now) break;
        waiter.settled = true;
        waiter.expire();
      }
      this.#head++;
    }
    if (this.#head === queue.length) {
      this.#queue = [];
      this.#head = 0;
      return;
    }
    if (this.#head > 1024) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    const next = this.#queue[this.#head] as Waiter;
    this.#arm(Math.max(1, Math.ceil(next.deadline - now)));
  };
}
