/**
 * HTTP load from a worker thread: the servers under test run on the main thread and get its
 * event loop to themselves, as behind autocannon or wrk, while contenders still share one
 * process and one run. Each call runs `concurrency` keep-alive loops of GET for `seconds`, and
 * rejects if any response was not 2xx.
 */
import { Worker } from 'node:worker_threads';

export interface LoadTarget {
  readonly port: number;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  /** Body bytes of the 2xx responses. */
  readonly bytes: number;
  /** Responses whose status was not 2xx. */
  readonly failed: number;
  /**
   * The whole process's CPU time per request in µs (client thread, event loop and thread
   * pool together): two cores divided by it is the most any server could reach here.
   */
  readonly cpuPerRequest: number;
}

interface Reply extends Partial<LoadResult> {
  readonly id: number;
  readonly error?: string;
}

export interface HttpLoad {
  run(target: LoadTarget, seconds: number, concurrency: number): Promise<LoadResult>;
  /**
   * A measure() round on one target: runs the load and returns requests per second,
   * handing the whole result to `onResult` first.
   */
  round(
    target: LoadTarget,
    onResult?: (result: LoadResult) => void,
  ): (seconds: number, concurrency: number) => Promise<number>;
  close(): Promise<void>;
}

export function createHttpLoad(): HttpLoad {
  const worker = new Worker(new URL('./http-load-worker.mjs', import.meta.url));
  const waiting = new Map<
    number,
    { resolve(result: Omit<LoadResult, 'cpuPerRequest'>): void; reject(error: Error): void }
  >();
  let nextId = 0;
  worker.on('message', (reply: Reply) => {
    const pending = waiting.get(reply.id);
    waiting.delete(reply.id);
    if (reply.error !== undefined) {
      pending?.reject(new Error(`[bench] load worker: ${reply.error}`));
    } else if ((reply.failed ?? 0) > 0) {
      // A benchmark of error responses measures nothing we publish.
      pending?.reject(
        new Error(`[bench] ${reply.failed} of ${reply.requests} responses were not 2xx`),
      );
    } else {
      pending?.resolve(reply as Omit<LoadResult, 'cpuPerRequest'>);
    }
  });
  worker.on('error', (error) => {
    for (const pending of waiting.values()) pending.reject(error);
    waiting.clear();
  });
  async function run(target: LoadTarget, seconds: number, concurrency: number) {
    const id = nextId++;
    const cpuBefore = process.cpuUsage();
    const result = await new Promise<Omit<LoadResult, 'cpuPerRequest'>>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      worker.postMessage({ id, type: 'run', ...target, seconds, concurrency });
    });
    const cpu = process.cpuUsage(cpuBefore);
    return { ...result, cpuPerRequest: (cpu.user + cpu.system) / result.requests };
  }

  return {
    run,
    round(target, onResult) {
      return async (seconds, concurrency) => {
        const result = await run(target, seconds, concurrency);
        onResult?.(result);
        return result.requests / result.seconds;
      };
    },
    async close() {
      worker.postMessage({ type: 'close' });
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}
