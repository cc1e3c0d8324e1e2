/**
 * Every benchmark, one after the other, each in its own process (so none warms or loads the
 * next), and one summary table of what they printed: each contender's figure and its ratio
 * to the peer it is measured against, under the title of its table.
 *
 *   pnpm build && pnpm bench
 *
 * Knobs: BENCH_SECONDS and BENCH_ROUNDS are passed on (each benchmark's own defaults when
 * unset); BENCH_SKIP, a comma-separated list of benchmarks to leave out (db-pool, cache, auth,
 * edge, logger, stack, http, platform); the platform benchmark runs at BENCH_PLATFORM_SECONDS (10) per run
 * unless BENCH_SECONDS is set. The benchmarks need the PostgreSQL and Redis their own headers
 * name (FAIRMIND_BENCH_DATABASE_URL, FAIRMIND_BENCH_REDIS_URL).
 */
import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const BENCHMARKS = [
  'db-pool',
  'cache',
  'auth',
  'edge',
  'logger',
  'stack',
  'http',
  'platform',
] as const;
/** Where each benchmark starts: its own file, or its folder's index. */
const entry = (name: string) => (name === 'http' ? 'http/index.ts' : `${name}.ts`);
const skip = new Set((process.env['BENCH_SKIP'] ?? '').split(',').filter(Boolean));
for (const name of skip) {
  if (!(BENCHMARKS as readonly string[]).includes(name)) {
    throw new Error(`[bench] BENCH_SKIP names an unknown benchmark: ${name}`);
  }
}

interface Row {
  benchmark: string;
  table: string;
  cells: string[];
}

/** Runs one benchmark, echoing its output, and resolves with it and its exit code. */
function run(name: string): Promise<{ output: string; code: number }> {
  const env = { ...process.env };
  if (name === 'platform' && env['BENCH_SECONDS'] === undefined) {
    env['BENCH_SECONDS'] = process.env['BENCH_PLATFORM_SECONDS'] ?? '10';
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry(name)], {
      cwd: here,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      output += chunk;
      process.stdout.write(chunk);
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ output, code: code ?? 1 }));
  });
}

/**
 * The rows of every markdown table in `output`, with the title printed above each table
 * (the line before its header). Header and separator rows are left out.
 */
function tables(benchmark: string, output: string): Row[] {
  const rows: Row[] = [];
  const lines = output.split('\n');
  let title = '';
  for (const [index, line] of lines.entries()) {
    if (!line.startsWith('|')) continue;
    const previous = lines[index - 1] ?? '';
    if (!previous.startsWith('|')) {
      title = lines[index - 1]?.trim() || title;
      continue; // the header row
    }
    if (/^\|[\s|:-]+\|$/.test(line)) continue; // the separator row
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
    rows.push({ benchmark, table: title, cells });
  }
  return rows;
}

const rows: Row[] = [];
const failed: string[] = [];
for (const name of BENCHMARKS) {
  if (skip.has(name)) continue;
  console.log(`\n==== ${name} ====`);
  const { output, code } = await run(name);
  if (code !== 0) failed.push(`${name} (exit ${code})`);
  rows.push(...tables(name, output));
}

console.log('\n==== summary ====\n');
console.log('| benchmark | table | contender | figure | ratio |');
console.log('|---|---|---|---:|---:|');
for (const row of rows) {
  const cells = row.cells;
  // A benchmark table is contender, figure, rounds, ratio; the platform's is server, workload,
  // connections, req/s, p50, p99, and more, of which the summary keeps those and p99 / floor.
  const [contender, figure, ratio] =
    row.benchmark === 'platform'
      ? [
          `${cells[0]} ${cells[1]}, ${cells[2]} connections`,
          `${cells[3]} req/s, p99 ${cells[5]} ms`,
          `p99 / floor ${cells[7]}`,
        ]
      : [cells[0], cells[1], cells.at(-1)];
  console.log(`| ${row.benchmark} | ${row.table} | ${contender} | ${figure} | ${ratio} |`);
}
if (failed.length > 0) {
  console.error(`\n[bench] failed: ${failed.join(', ')}`);
  process.exitCode = 1;
}
