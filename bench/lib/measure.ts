/**
 * The measuring loop every benchmark shares: each contender runs `concurrency` loops of its
 * operation for `seconds`, and contenders take turns over several rounds so that drift in
 * the machine (the database's caches warming, another process waking) hits them all alike.
 * The figure kept is each contender's median round.
 */

export interface Contender {
  readonly name: string;
  /** One operation; the loop awaits it. */
  run(): Promise<unknown>;
  /**
   * A whole round run elsewhere (an HTTP load generator on another thread, say), returning
   * operations per second; when given, it replaces the loop over `run`.
   */
  round?(seconds: number, concurrency: number): Promise<number>;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
}

export interface MeasureOptions {
  seconds: number;
  rounds: number;
  concurrency: number;
  warmupSeconds: number;
}

export interface Result {
  readonly name: string;
  readonly opsPerSecond: number;
  readonly rounds: readonly number[];
}

async function runFor(contender: Contender, seconds: number, concurrency: number): Promise<number> {
  if (contender.round !== undefined) return contender.round(seconds, concurrency);
  const deadline = performance.now() + seconds * 1000;
  let operations = 0;
  const loop = async () => {
    while (performance.now() < deadline) {
      await contender.run();
      operations++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  return operations / ((performance.now() - started) / 1000);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export async function measure(
  contenders: readonly Contender[],
  options: MeasureOptions,
): Promise<Result[]> {
  for (const contender of contenders) await contender.setup?.();
  for (const contender of contenders)
    await runFor(contender, options.warmupSeconds, options.concurrency);
  const rounds = new Map<string, number[]>(contenders.map((contender) => [contender.name, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (const contender of contenders) {
      rounds
        .get(contender.name)
        ?.push(await runFor(contender, options.seconds, options.concurrency));
    }
  }
  for (const contender of contenders) await contender.teardown?.();
  return contenders.map((contender) => {
    const values = rounds.get(contender.name) ?? [];
    return { name: contender.name, opsPerSecond: median(values), rounds: values };
  });
}

/** Prints results as a table with each one's ratio to `baseline` (>1 means faster). */
export function report(title: string, results: readonly Result[], baseline: string): void {
  const base = results.find((result) => result.name === baseline);
  console.log(`\n${title}`);
  console.log(`| contender | ops/s (median) | rounds | ratio vs ${baseline} |`);
  console.log('|---|---:|---|---:|');
  for (const result of results) {
    const ratio = base ? result.opsPerSecond / base.opsPerSecond : Number.NaN;
    console.log(
      `| ${result.name} | ${Math.round(result.opsPerSecond).toLocaleString('en-US')} | ${result.rounds
        .map((value) => Math.round(value))
        .join(' / ')} | ${ratio.toFixed(2)}x |`,
    );
  }
}

export function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`[bench] ${name} must be a positive number`);
  return value;
}

/**
 * BENCH_ONLY: the one section of a benchmark to run (all when unset). Returns the test for a
 * section's name; an unknown name is an error that lists the known ones.
 */
export function sectionsFromEnv(names: readonly string[]): (name: string) => boolean {
  const only = process.env['BENCH_ONLY'] ?? '';
  if (only !== '' && !names.includes(only)) {
    throw new Error(`[bench] BENCH_ONLY must be one of ${names.join(', ')}`);
  }
  return (name) => only === '' || only === name;
}

/** The PostgreSQL the benchmarks use: FAIRMIND_BENCH_DATABASE_URL, else the tests' one. */
export const benchDatabaseUrl =
  process.env['FAIRMIND_BENCH_DATABASE_URL'] ??
  process.env['FAIRMIND_TEST_DATABASE_URL'] ??
  'postgres://postgres@127.0.0.1:5432/test';

/** The Redis the benchmarks use: FAIRMIND_BENCH_REDIS_URL, else the tests' one. */
export const benchRedisUrl =
  process.env['FAIRMIND_BENCH_REDIS_URL'] ??
  process.env['FAIRMIND_TEST_REDIS_URL'] ??
  'redis://127.0.0.1:6379';
