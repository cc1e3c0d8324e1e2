import { invalidOptions } from '../contract/index.js';
import { type Logger, silentLogger } from '../log/index.js';
import { drainHooks, type NamedHook } from './drain.js';
import { listenForSignals } from './signals.js';

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

  const hooks: NamedHook[] = [];
  let closing: Promise<boolean> | undefined;

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
      closing ??= drainHooks(reason, { hooks, logger, drainTimeoutMs });
      return closing;
    },
    get closing() {
      return closing !== undefined;
    },
    drainTimeoutMs,
    handleSignals() {
      return listenForSignals({
        signals,
        logger,
        exit,
        close: (reason) => lifecycle.close(reason),
      });
    },
  };
  return lifecycle;
}
