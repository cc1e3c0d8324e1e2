import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FairmindError, type Logger } from '@fairmind/core';
import type { Gauge, Histogram } from 'prom-client';
import { describe, PREFIX } from '../errors/index.js';
import type { PasswordJob, PasswordResult } from './worker.js';

/**
 * Starts one worker from the file next to this module at run time: `password-worker.js`
 * beside the ESM build, `password-worker.cjs` beside the CJS build (tsup writes both, and
 * shims import.meta.url in CJS). When the sources themselves run under a TypeScript loader
 * (the tests), the worker is `worker.ts`; Node 20 does not pass a loader registered with
 * `--import` on to worker threads, so the thread imports it through tsx's API instead.
 */
function startWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const file = fileURLToPath(new URL('./worker.ts', here));
    const code = `import('tsx/esm/api').then(({ tsImport }) => tsImport(${JSON.stringify(file)}, ${JSON.stringify(here)}))`;
    return new Worker(code, { eval: true });
  }
  return new Worker(
    new URL(here.endsWith('.cjs') ? './password-worker.cjs' : './password-worker.js', here),
    // Workers inherit the process's flags; --input-type (node -e scripts) stops a file worker.
    { execArgv: process.execArgv.filter((flag) => !flag.startsWith('--input-type')) },
  );
}

interface Pending {
  readonly job: PasswordJob;
  readonly started: number;
  resolve(value: string | boolean): void;
  reject(error: Error): void;
}

interface Slot {
  readonly worker: Worker;
  current: Pending | undefined;
}

/** One bcrypt job as the hasher asks for it; the pool numbers it. */
export type JobInput =
  | { op: 'hash'; password: string; cost: number }
  | { op: 'compare'; password: string; hash: string };

/** What a {@link WorkerPool} is given, its options already checked by the hasher. */
export interface WorkerPoolSettings {
  /** Workers at most; they start on demand. */
  readonly size: number;
  /** Jobs that may wait for a worker before new ones are refused with a 503. */
  readonly maxQueue: number;
  readonly logger: Logger;
  readonly duration: Histogram<'op'> | undefined;
  readonly queueGauge: Gauge | undefined;
}

const closedError = (message: string) =>
  new FairmindError('PASSWORD_HASHER_CLOSED', 500, `${PREFIX} ${message}`);

/**
 * Worker threads running bcrypt jobs in arrival order, with a bounded queue. Workers start on
 * first use, are replaced when one dies, and hold a reference on the process only while busy.
 */
export class WorkerPool {
  readonly #settings: WorkerPoolSettings;
  readonly #slots: Slot[] = [];
  readonly #queue: Pending[] = [];
  #nextId = 1;
  #closed = false;

  constructor(settings: WorkerPoolSettings) {
    this.#settings = settings;
  }

  /** Jobs waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Runs one job: a hash (string) or a comparison (boolean). */
  run(input: JobInput): Promise<string | boolean> {
    if (this.#closed) {
      return Promise.reject(closedError('the password hasher was closed: create a new one'));
    }
    if (this.#queue.length >= this.#settings.maxQueue) {
      return Promise.reject(
        new FairmindError(
          'PASSWORD_QUEUE_FULL',
          503,
          `${PREFIX} too many password checks are waiting: try again shortly`,
          {
            headers: { 'Retry-After': '1' },
          },
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({
        job: { ...input, id: this.#nextId++ } as PasswordJob,
        started: performance.now(),
        resolve,
        reject,
      });
      this.#dispatch();
    });
  }

  /** Ends the workers; jobs still waiting or running are rejected. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const pending of this.#queue.splice(0)) {
      pending.reject(closedError('the password hasher was closed'));
    }
    const workers = this.#slots.splice(0);
    await Promise.all(
      workers.map(async (slot) => {
        slot.current?.reject(closedError('the password hasher was closed'));
        await slot.worker.terminate().catch((error: unknown) => {
          this.#settings.logger.warn(
            { error: describe(error) },
            `${PREFIX} a password worker did not stop cleanly`,
          );
        });
      }),
    );
    this.#settings.queueGauge?.set(0);
  }

  #dispatch(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      let slot = this.#slots.find((candidate) => candidate.current === undefined);
      if (slot === undefined) {
        if (this.#slots.length >= this.#settings.size) break;
        slot = this.#spawn();
      }
      const pending = this.#queue.shift() as Pending;
      slot.current = pending;
      // Busy workers keep the process alive until their answer arrives.
      slot.worker.ref();
      slot.worker.postMessage(pending.job);
    }
    this.#settings.queueGauge?.set(this.#queue.length);
  }

  #spawn(): Slot {
    const worker = startWorker();
    const slot: Slot = { worker, current: undefined };
    worker.unref();
    worker.on('message', (result: PasswordResult) => this.#answered(slot, result));
    worker.on('error', (error) => this.#lost(slot, error));
    worker.on('exit', (code) => {
      if (this.#slots.includes(slot)) this.#lost(slot, new Error(`exited with code ${code}`));
    });
    this.#slots.push(slot);
    return slot;
  }

  #answered(slot: Slot, result: PasswordResult): void {
    const pending = slot.current;
    if (pending === undefined || pending.job.id !== result.id) return;
    slot.current = undefined;
    slot.worker.unref();
    this.#settings.duration?.observe(
      { op: pending.job.op },
      (performance.now() - pending.started) / 1000,
    );
    if (result.ok) {
      pending.resolve(result.value);
    } else {
      const message = `${PREFIX} bcrypt failed: ${result.message}`;
      pending.reject(new FairmindError('PASSWORD_HASH_FAILED', 500, message));
    }
    this.#dispatch();
  }

  /** A worker died: its job fails, and another worker takes the queue unless the pool closed. */
  #lost(slot: Slot, error: Error): void {
    const index = this.#slots.indexOf(slot);
    if (index !== -1) this.#slots.splice(index, 1);
    const pending = slot.current;
    slot.current = undefined;
    pending?.reject(
      new FairmindError(
        'PASSWORD_WORKER_FAILED',
        500,
        `${PREFIX} the password worker stopped: ${error.message}`,
        { cause: error },
      ),
    );
    if (!this.#closed) {
      this.#settings.logger.error(
        { err: error },
        `${PREFIX} password worker stopped; starting another`,
      );
      this.#dispatch();
    }
  }
}
