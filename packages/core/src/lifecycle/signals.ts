import type { Logger } from '../log/index.js';

/** What {@link listenForSignals} needs from the lifecycle it shuts down. */
export interface SignalContext {
  readonly signals: readonly NodeJS.Signals[];
  readonly logger: Logger;
  readonly exit: (code: number) => void;
  readonly close: (reason: string) => Promise<boolean>;
}

/**
 * Closes on the first signal and exits with the drain's outcome. A second signal exits 1 at
 * once: an operator pressing Ctrl+C twice wants the process gone, not a longer wait. Returns
 * a function that removes the listeners.
 */
export function listenForSignals({ signals, logger, exit, close }: SignalContext): () => void {
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
    void close(signal).then((ok) => exit(ok ? 0 : 1));
  };
  for (const signal of signals) process.on(signal, onSignal);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
}
