import { type DestinationStream, pino } from 'pino';

type SonicBoom = ReturnType<typeof pino.destination>;

/** Destinations holding lines not yet handed to their sonic-boom, for the exit hook. */
const holding = new Set<TurnBatchedDestination>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  // First among the exit listeners, so that lines logged by the others still go out.
  process.prependListener('exit', () => {
    for (const destination of holding) destination.handOver();
  });
}

/**
 * stdout for {@link createLogger}: the lines logged in one turn of the event loop are written
 * at its end in one synchronous write, through pino's own destination (sonic-boom, with its
 * handling of a closed pipe), and those of the last turn when the process exits.
 *
 * By hand, because neither of sonic-boom's modes fits a busy server. Asynchronous (pino's
 * default), it appends each line to the chunk it is building and measures that whole chunk
 * again with `Buffer.byteLength`: while a write is in flight, which under load is always, up
 * to 16 KB flattened and measured per line, a fifth of every byte example-fastify allocated
 * serving a cached list; and a write still in flight at exit can be cut short. Synchronous,
 * it costs a system call per line. One write per turn: 1.1 against 4.8 µs of CPU per line at
 * 50 lines a turn, 4.3x pino's default (`bench/logger.ts`). Like Node's own stdout on a pipe
 * or a terminal, a reader that falls behind slows the process down rather than growing its
 * memory unbounded.
 */
class TurnBatchedDestination implements DestinationStream {
  #lines: string[] = [];
  readonly #target: SonicBoom;

  constructor(target: SonicBoom) {
    this.#target = target;
  }

  write(line: string): void {
    if (this.#lines.push(line) > 1) return;
    holding.add(this);
    setImmediate(this.handOver);
  }

  /** Writes the held lines now. */
  readonly handOver = (): void => {
    const lines = this.#lines;
    if (lines.length === 0) return;
    holding.delete(this);
    this.#lines = [];
    this.#target.write(lines.length === 1 ? (lines[0] as string) : lines.join(''));
  };

  /** `logger.flush(cb)`: the held lines, then whatever sonic-boom still holds. */
  flush(callback?: (error?: Error) => void): void {
    this.handOver();
    this.#target.flush(callback);
  }

  flushSync(): void {
    this.handOver();
    this.#target.flushSync();
  }

  end(): void {
    this.handOver();
    this.#target.end();
  }
}

/**
 * Where pino would write without a destination, batched per turn of the event loop; or
 * `undefined` where pino would not use a sonic-boom of its own (stdout replaced, as test
 * runners do), so that pino decides as before.
 */
export function batchedStdout(): DestinationStream | undefined {
  const stdout = process.stdout as NodeJS.WriteStream & { fd?: number };
  if (stdout.write !== (stdout.constructor as { prototype: { write: unknown } }).prototype.write) {
    return undefined;
  }
  return batchPerTurn(pino.destination({ dest: stdout.fd || 1, sync: true }));
}

/** Lines written to the result in one turn of the event loop reach `target` as one string. */
export function batchPerTurn(target: SonicBoom): DestinationStream {
  hookExit();
  return new TurnBatchedDestination(target);
}
