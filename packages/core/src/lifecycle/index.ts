import { invalidOptions } from '../contract/index.js';
import { type Logger, silentLogger } from '../log/index.js';

/** A close hook: release one resource. `signal` aborts when the drain deadline passes. */
export type CloseHook = (signal: AbortSignal) => Promise<void> | void;

/** Options of {@link createLifecycle}. */
export interface LifecycleOptions {
  /**
   * Where start-up and shutdown progress is logged.
   * @default silentLogger
   */
  logger?: Logger | undefined;
  /**
   * How long all close hooks together may take before the shutdown is declared failed.
   * @default 10_000
   */
  drainTimeoutMs?: number | undefined;
  /**
   * Signals that start a graceful shutdown once {@link Lifecycle.handleSignals} is called.
   * @default ['SIGTERM', 'SIGINT']
   */
  signals?: readonly NodeJS.Signals[] | undefined;
  /**
   * How the process ends after a signal; tests replace it.
   * @default process.exit
   */
  exit?: ((code: number) => void) | undefined;
}

/** Ordered shutdown for a process: what was opened last is closed first. */
export interface Lifecycle {
  /**
   * Registers a hook run by {@link Lifecycle.close}. Hooks run one at a time in reverse
   * order of registration, like nested `try/finally`: register the pool before the HTTP
   * server, and the server stops accepting before the pool closes. Returns a function
   * that unregisters the hook.
   */
  onClose(name: string, hook: CloseHook): () => void;
  /**
   * Runs every hook once; later calls return the same promise. Resolves `true` when all
   * hooks finished within the deadline without throwing, else `false` (each failure logged).
   */
  close(reason?: string): Promise<boolean>;
  /** True once {@link Lifecycle.close} has been called: stop taking new work. */
  readonly closing: boolean;
  /** The drain deadline: how long all close hooks together may take. */
  readonly drainTimeoutMs: number;
  /**
   * Closes on the configured signals, then exits 0 (clean) or 1 (a hook failed or the
   * deadline passed). A second signal exits 1 at once. Returns a function that removes
   * the listeners.
   */
  handleSignals(): () => void;
}

/**
 * Creates the process lifecycle: ordered async close hooks, SIGTERM/SIGINT handling and a
 * drain deadline.
 *
 * @example
 * ```ts
 * import { createLifecycle } from '@fairmind/core/lifecycle';
 * const lifecycle = createLifecycle({ logger, drainTimeoutMs: 15_000 });
 * lifecycle.onClose('database', () => db.close());
 * lifecycle.onClose('http', () => new Promise((done) => server.close(() => done())));
 * lifecycle.handleSignals();
 * ```
 */
export function createLifecycle(options: LifecycleOptions = {}): Lifecycle {
  const logger = options.logger ?? silentLogger;
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const exit = options.exit ?? ((code: number) => process.exit(code));
  if (!Number.isFinite(drainTimeoutMs) || drainTimeoutMs <= 0) {
    throw invalidOptions(
      '@fairmind/core',
      `drainTimeoutMs must be a positive number of milliseconds, got ${String(drainTimeoutMs)}.`,
    );
  }

  const hooks: Array<{ name: string; hook: CloseHook }> = [];
  let closing: Promise<boolean> | undefined;

  async function runHooks(reason: string): Promise<boolean> {
    logger.info({ reason, hooks: hooks.length, drainTimeoutMs }, '[@fairmind/core] shutting down');
    const controller = new AbortController();
    let expired = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => {
        expired = true;
        controller.abort(new Error('drain deadline passed'));
        resolve('deadline');
      }, drainTimeoutMs);
      timer.unref?.();
    });
    let ok = true;
    for (const { name, hook } of [...hooks].reverse()) {
      if (expired) {
        logger.error(
          { hook: name },
          '[@fairmind/core] drain deadline passed before this close hook ran',
        );
        ok = false;
        continue;
      }
      try {
        const outcome = await Promise.race([
          Promise.resolve().then(() => hook(controller.signal)),
          deadline,
        ]);
        if (outcome === 'deadline') {
          logger.error(
            { hook: name, drainTimeoutMs },
            '[@fairmind/core] close hook did not finish within the drain deadline; raise drainTimeoutMs or make the hook honour its abort signal',
          );
          ok = false;
        }
      } catch (error) {
        logger.error({ hook: name, err: error }, '[@fairmind/core] close hook failed');
        ok = false;
      }
    }
    if (timer) clearTimeout(timer);
    logger.info({ ok }, '[@fairmind/core] shutdown complete');
    return ok;
  }

  const lifecycle: Lifecycle = {
    onClose(name, hook) {
      const entry = { name, hook };
      hooks.push(entry);
      return () => {
        const index = hooks.indexOf(entry);
        if (index !== -1) hooks.splice(index, 1);
      };
    },
    close(reason = 'close() called') {
      closing ??= runHooks(reason);
      return closing;
    },
    get closing() {
      return closing !== undefined;
    },
    drainTimeoutMs,
    handleSignals() {
      let received = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        received++;
        if (received > 1) {
          logger.warn(
            { signal },
            '[@fairmind/core] second signal: exiting without waiting for the drain',
          );
          exit(1);
          return;
        }
        void lifecycle.close(signal).then((ok) => exit(ok ? 0 : 1));
      };
      for (const signal of signals) process.on(signal, onSignal);
      return () => {
        for (const signal of signals) process.off(signal, onSignal);
      };
    },
  };
  return lifecycle;
}
