import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** What a finished child process left. */
export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link runTypeScript}. */
export interface RunTypeScriptOptions {
  /** Arguments after the script path. */
  args?: readonly string[];
  cwd?: string;
  /** The child's whole environment. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Killed with SIGKILL after this long, so a hung child cannot hang the suite. @default 60_000 */
  timeoutMs?: number;
}

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/**
 * Runs a TypeScript file in a child Node process (through tsx) and collects its output:
 * the end-to-end way to test a command, a migrator racing others, or an example server.
 */
export function runTypeScript(
  script: string,
  options: RunTypeScriptOptions = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', tsxLoader, script, ...(options.args ?? [])],
      {
        cwd: options.cwd ?? process.cwd(),
        env: options.env ?? process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
