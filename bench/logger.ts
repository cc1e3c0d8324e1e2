/**
 * The logger's destination: pino's own default (an asynchronous sonic-boom on stdout) against
 * `createLogger()`'s stdout, which writes the lines of each event-loop turn in one synchronous
 * write. Each contender runs in its own process with stdout on /dev/null, writing the request
 * log's line as the request log does (createLogger's line writer) in bursts of BENCH_LINES (50,
 * about one line per connection of a loaded server) per turn; the figure is the process's whole CPU time per
 * line, its thread pool included, as lines per CPU second. Rounds alternate the contenders.
 *
 *   pnpm --filter @fairmind/bench run logger
 *
 * Knobs: BENCH_ROUNDS (5), BENCH_LINES (per turn, 50), BENCH_TURNS (per round, 4000).
 */
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { lineWriterOf } from '@fairmind/core';
import { createLogger } from '@fairmind/core/logger';
import pino from 'pino';
import { measure, numberFromEnv, report } from './lib/measure.js';

// The same logger each time (createLogger's, whose line writer the request log uses); only
// where its lines go differs.
const CONTENDERS = {
  '@fairmind/core createLogger(), stdout': () => createLogger({ name: 'bench' }),
  "pino's default stdout destination": () =>
    createLogger({ name: 'bench', destination: pino.destination({ dest: 1, sync: false }) }),
  'pino.destination({ sync: true })': () =>
    createLogger({ name: 'bench', destination: pino.destination({ dest: 1, sync: true }) }),
} as const;
type Name = keyof typeof CONTENDERS;

const perTurn = numberFromEnv('BENCH_LINES', 50);
const turns = numberFromEnv('BENCH_TURNS', 4000);

/** In the child: log, then report CPU µs per line on stderr once everything is written. */
function child(name: Name): void {
  const logger = CONTENDERS[name]();
  const write = lineWriterOf(logger);
  if (write === undefined) throw new Error('[bench] createLogger() gave no line writer');
  // The request log's fields, serialized as it serializes them.
  const fields =
    '"requestId":"1b0c4a8e-2f4d-4c1e-9a57-7f1c2d3e4f50","method":"GET",' +
    '"path":"/api/v1/models?limit=20","status":200,"responseTimeMs":1.234,"bytes":1430,' +
    '"ip":"127.0.0.1","headers":{"user-agent":"wrk/4.2.0"}';
  const started = process.cpuUsage();
  let turn = 0;
  const next = () => {
    for (let line = 0; line < perTurn; line++) {
      write(logger, 'info', fields, '[@fairmind/edge] GET /api/v1/models 200');
    }
    if (++turn < turns) setImmediate(next);
    else logger.flush(() => done(started));
  };
  next();
}

function done(started: NodeJS.CpuUsage): void {
  const used = process.cpuUsage(started);
  process.stderr.write(`${JSON.stringify({ us: used.user + used.system })}\n`);
}

function runChild(name: Name): Promise<number> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', name],
      { stdio: ['ignore', openSync('/dev/null', 'w'), 'pipe'] },
    );
    let err = '';
    proc.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    proc.once('error', reject);
    proc.once('exit', (code) => {
      const line = err.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        reject(new Error(`[bench] ${name} exited with ${code}: ${err}`));
        return;
      }
      resolve((perTurn * turns) / ((JSON.parse(line) as { us: number }).us / 1e6));
    });
  });
}

if (process.argv[2] === '--child') {
  child(process.argv[3] as Name);
} else {
  const rounds = numberFromEnv('BENCH_ROUNDS', 5);
  console.log(
    `logger benchmark: node ${process.version}, ${perTurn} lines per turn, ${turns} turns, ${rounds} rounds`,
  );
  const contenders = (Object.keys(CONTENDERS) as Name[]).map((name) => ({
    name,
    run: () => Promise.resolve(),
    // A round is one child process's whole run, whatever the seconds: its lines per CPU second.
    round: () => runChild(name),
  }));
  const results = await measure(contenders, {
    seconds: 0,
    rounds,
    concurrency: 1,
    warmupSeconds: 0,
  });
  report(
    'The logger on stdout: request-log lines per second of CPU, thread pool included',
    results,
    "pino's default stdout destination",
  );
}
