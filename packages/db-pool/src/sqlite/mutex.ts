export class AcquireTimeout extends Error {}

interface Waiter {
  resolve(): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * A FIFO async lock. better-sqlite3 has one synchronous connection, so a transaction whose
 * callback awaits must keep everyone else out until it ends.
 */
export class Mutex {
  #held = false;
  readonly #queue: Waiter[] = [];

  get held(): boolean {
    return this.#held;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  acquire(timeoutMs?: number): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, timer: undefined };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          const index = this.#queue.indexOf(waiter);
          if (index !== -1) this.#queue.splice(index, 1);
          reject(new AcquireTimeout());
        }, timeoutMs);
      }
      this.#queue.push(waiter);
    });
  }

  release(): void {
    const next = this.#queue.shift();
    if (next === undefined) {
      this.#held = false;
      return;
    }
    // The lock passes straight to the next waiter, so nobody can barge in between.
    if (next.timer !== undefined) clearTimeout(next.timer);
    next.resolve();
  }
}
