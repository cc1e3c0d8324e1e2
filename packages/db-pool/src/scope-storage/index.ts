import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The AsyncLocalStorage behind `withConnection` and transactions, switched off whenever no
 * scope is open. On Node 20 an AsyncLocalStorage that was entered once keeps async_hooks'
 * promise hooks on for the life of the process, and they tax every promise, queries or not:
 * 5.9% of example-fastify's busy time on a cached list that never opened a transaction, since
 * start-up had opened one (switching them off: 16% more lists per second). `disable()` when
 * the last scope closes turns them off again (unless another storage in the process still
 * needs them), and the next `run` turns them back on.
 * A continuation that outlives every scope (a timer started inside one) then finds none, and
 * borrows a connection of its own instead of the one its scope already gave back.
 */
export class ScopeStorage<T> {
  readonly #storage = new AsyncLocalStorage<T>();
  #open = 0;

  /** The innermost open scope of this async context, if any scope is open at all. */
  getStore(): T | undefined {
    return this.#open === 0 ? undefined : this.#storage.getStore();
  }

  /** Runs `fn` with `store` as the scope of everything it starts, until its promise settles. */
  async run<R>(store: T, fn: () => Promise<R>): Promise<R> {
    this.#open++;
    try {
      return await this.#storage.run(store, fn);
    } finally {
      this.#open--;
      if (this.#open === 0) this.#storage.disable();
    }
  }
}
