/**
 * What the HTTP benchmarks share to drive a server in another process with wrk and read what
 * the server spent: a free port, wrk run with a `done` hook that prints its summary as JSON,
 * and the server's CPU time and peak RSS read from /proc.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What wrk's `done` hook prints (latencies in microseconds). */
export interface WrkSummary {
  requests: number;
  durationUs: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  p50: number;
  p99: number;
  p999: number;
}

/** A `done` hook for a wrk script: prints the run's summary as one JSON line. */
export const WRK_DONE = `done = function(summary, latency, requests)
  io.write(string.format('{"requests":%d,"durationUs":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"p50":%d,"p99":%d,"p999":%d}\\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
`;

/** Every error wrk counted: sockets that failed, timeouts and non-2xx/3xx answers. */
export function wrkErrors(summary: WrkSummary): number {
  return Object.values(summary.errors).reduce((total, value) => total + value, 0);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** A process's user and system CPU in microseconds, and its peak RSS, from /proc. */
export function processUsage(pid: number): { cpuUs: number; peakRssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 per second).
  const ticks = Number(fields[11]) + Number(fields[12]);
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuUs: ticks * 10_000, peakRssMb: Number(hwm?.[1] ?? 0) / 1024 };
}

export interface WrkRun {
  url: string;
  /** The Lua script; it must print the summary (end it with WRK_DONE). */
  script: string;
  connections: number;
  seconds: number;
  threads: number;
}

/** Runs wrk once and resolves with the summary its script printed. */
export function runWrk(run: WrkRun): Promise<WrkSummary> {
  const dir = mkdtempSync(join(tmpdir(), 'fm-bench-wrk-'));
  const file = join(dir, 'script.lua');
  writeFileSync(file, run.script);
  const args = [`-t${run.threads}`, `-c${run.connections}`, `-d${run.seconds}s`];
  return new Promise<WrkSummary>((resolve, reject) => {
    execFile(
      'wrk',
      [...args, '--timeout', '10s', '-s', file, run.url],
      { maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        rmSync(dir, { recursive: true, force: true });
        if (error) {
          reject(new Error(`[bench] wrk failed: ${stderr || error.message}`));
          return;
        }
        const line = stdout.split('\n').find((text) => text.startsWith('{"requests"'));
        if (line === undefined) reject(new Error(`[bench] wrk printed no summary:\n${stdout}`));
        else resolve(JSON.parse(line) as WrkSummary);
      },
    );
  });
}

/** A comma-separated list from the environment, or the fallback when unset. */
export function listFromEnv(name: string, fallback: string[]): string[] {
  const raw = process.env[name];
  return raw ? raw.split(',').map((item) => item.trim()) : fallback;
}

/**
 * Node flags that make a server under load write a CPU profile into BENCH_PROFILE_DIR when it
 * exits; none when the knob is unset. Profiles open in Chrome's DevTools.
 */
export function profileFlags(): string[] {
  const dir = process.env['BENCH_PROFILE_DIR'];
  return dir === undefined || dir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}
