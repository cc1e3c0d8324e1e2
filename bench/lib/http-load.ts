/**
 * HTTP load for the server benchmarks. Each call runs `concurrency` keep-alive connections of
 * GET for `seconds`, and rejects if any response was not 2xx. Two load generators:
 *   - `worker` (default): Node's HTTP client on a worker thread of the bench process, so the
 *     servers under test get the main thread's event loop to themselves while contenders
 *     still share one process and one run. Needs nothing installed.
 *   - `wrk`: wrk in a process of its own (Debian package `wrk`), the way servers are usually
 *     measured: a cross-check that no figure is the Node client's doing. Here it took about
 *     30 µs of CPU per 2 KB response, mostly in the kernel, near what the worker costs.
 */
import { execFile, spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { Worker } from 'node:worker_threads';

export interface LoadTarget {
  readonly port: number;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  /** Body bytes of the 2xx responses (`wrk`: all bytes read, headers included). */
  readonly bytes: number;
  /** Responses whose status was not 2xx. */
  readonly failed: number;
  /**
   * The bench process's CPU time per request in µs: the servers' event loop and thread pool,
   * plus the client thread with the `worker` generator. Two cores divided by it is the most
   * any server could reach here.
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

/**
 * @param client `worker` or `wrk`; BENCH_CLIENT when not given (`worker` when unset).
 */
export function createHttpLoad(client = process.env['BENCH_CLIENT'] || 'worker'): HttpLoad {
  if (client === 'wrk') return createWrkLoad();
  if (client !== 'worker')
    throw new Error(`[bench] BENCH_CLIENT must be worker or wrk, got ${client}`);
  return createWorkerLoad();
}

function loadOf(
  run: (target: LoadTarget, seconds: number, concurrency: number) => Promise<LoadResult>,
  close: () => Promise<void>,
): HttpLoad {
  return {
    run,
    round(target, onResult) {
      return async (seconds, concurrency) => {
        const result = await run(target, seconds, concurrency);
        onResult?.(result);
        return result.requests / result.seconds;
      };
    },
    close,
  };
}

function createWorkerLoad(): HttpLoad {
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

  return loadOf(run, async () => {
    worker.postMessage({ type: 'close' });
    await new Promise((resolve) => worker.once('exit', resolve));
  });
}

const UNITS: Readonly<Record<string, number>> = {
  B: 1,
  KB: 1024,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
  TB: 1024 ** 4,
};

/** The status of one GET, read to the end. */
function probe(target: LoadTarget): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: target.port, path: target.path, headers: target.headers },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

// wrk prints a summary for people; these are the lines of it a round needs.
function createWrkLoad(): HttpLoad {
  if (spawnSync('wrk', ['-v']).error !== undefined) {
    throw new Error('[bench] BENCH_CLIENT=wrk needs wrk on the PATH (Debian: apt-get install wrk)');
  }
  async function run(target: LoadTarget, seconds: number, concurrency: number) {
    const args = ['-t1', `-c${concurrency}`, `-d${Math.max(1, Math.round(seconds))}s`];
    for (const [name, value] of Object.entries(target.headers))
      args.push('-H', `${name}: ${value}`);
    args.push(`http://127.0.0.1:${target.port}${target.path}`);
    // wrk counts only statuses of 400 and up as errors: a redirect would pass for a fast
    // server, so one request is checked first.
    const status = await probe(target);
    if (status < 200 || status > 299) {
      throw new Error(`[bench] ${target.path} answered ${status}, not 2xx`);
    }
    const cpuBefore = process.cpuUsage();
    const output = await new Promise<string>((resolve, reject) =>
      execFile('wrk', args, (error, stdout, stderr) =>
        error
          ? reject(new Error(`[bench] wrk failed: ${stderr || error.message}`))
          : resolve(stdout),
      ),
    );
    const cpu = process.cpuUsage(cpuBefore);
    const total = /(\d+) requests in [\d.]+\w+,\s+([\d.]+)(B|KB|MB|GB|TB) read/.exec(output);
    const rate = /Requests\/sec:\s+([\d.]+)/.exec(output);
    if (total === null || rate === null) {
      throw new Error(`[bench] wrk printed no totals:\n${output}`);
    }
    const [, count, size, sizeUnit] = total as unknown as string[];
    const requests = Number(count);
    const failed = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
    if (failed > 0) throw new Error(`[bench] ${failed} of ${requests} responses were not 2xx`);
    const socketErrors = /Socket errors: (.*)/.exec(output)?.[1];
    if (socketErrors !== undefined && /[1-9]/.test(socketErrors)) {
      throw new Error(`[bench] wrk socket errors: ${socketErrors}`);
    }
    return {
      requests,
      // The run time wrk prints is rounded (to 0.01 min past 50 s); its rate is not.
      seconds: requests / Number(rate[1]),
      bytes: Math.round(Number(size) * (UNITS[sizeUnit as string] ?? 1)),
      failed,
      cpuPerRequest: (cpu.user + cpu.system) / requests,
    };
  }
  return loadOf(run, async () => undefined);
}
