import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  exitedWithLog,
  type Instance,
  isRunning,
  onTestProcessExit,
  spawnOutcome,
  terminate,
} from './children.js';
import { freePort } from './redis-server.js';
import { describeError, sleep, testingError } from './util.js';

const HOST = '127.0.0.1';

export interface StartNginxOptions {
  /**
   * A config file for the `http` context with one `upstream` block and one `server` block
   * (deploy/nginx/fairmind.conf): its upstream `server` lines and its `listen` are replaced.
   */
  config: string;
  /** The loopback ports of the upstream instances. */
  upstreams: readonly number[];
}

/** An nginx the test started. */
export interface Nginx {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  readonly pid: number;
  /** Stops it (SIGQUIT: a graceful shutdown); resolves once the process is gone. */
  stop(): Promise<void>;
}

/**
 * Starts Debian's `nginx` in the foreground on a spare loopback port with the given site
 * config pointed at `upstreams`, its files in a temp folder, and resolves once it answers.
 *
 * @example
 * ```ts
 * const nginx = await startNginx({ config: 'deploy/nginx/fairmind.conf', upstreams: [a.port, b.port] });
 * await fetch(`${nginx.base}/health/live`);
 * ```
 */
export async function startNginx(options: StartNginxOptions): Promise<Nginx> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fm-nginx-'));
  mkdirSync(join(dir, 'temp'));
  const site = siteConfig(readFileSync(options.config, 'utf8'), options.upstreams, port);
  writeFileSync(join(dir, 'site.conf'), site);
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'daemon off;',
      // Two workers, as `worker_processes auto` gives on this machine kind: what one learns of
      // an instance must reach the other through the upstream's zone.
      'worker_processes 2;',
      // Under root the workers would otherwise run as nobody, who cannot write the temp folder.
      ...(process.getuid?.() === 0 ? ['user root root;'] : []),
      `error_log ${join(dir, 'error.log')} warn;`,
      `pid ${join(dir, 'nginx.pid')};`,
      'events { worker_connections 1024; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
        (kind) => `  ${kind}_temp_path ${join(dir, 'temp', kind)};`,
      ),
      `  include ${join(dir, 'site.conf')};`,
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
  const spawnError = await spawnOutcome(child);
  if (spawnError !== undefined || child.pid === undefined) {
    rmSync(dir, { recursive: true, force: true });
    throw testingError(
      `could not start nginx (${describeError(spawnError)}): apt-get install nginx.`,
      spawnError,
    );
  }
  child.unref();
  onTestProcessExit(child, () => child.kill('SIGKILL'));
  const exited = exitedWithLog(child, join(dir, 'error.log'), dir);
  const instance: Instance = { child, pid: child.pid, exited };
  const base = `http://${HOST}:${port}`;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (!isRunning(child))
      throw testingError(`nginx exited during start-up. Its log:\n${await exited}`);
    try {
      await fetch(`${base}/health/live`, { signal: AbortSignal.timeout(1_000) });
      return { port, base, pid: child.pid, stop: () => terminate(instance, 'SIGQUIT') };
    } catch {
      await sleep(50);
    }
  }
  await terminate(instance, 'SIGKILL');
  throw testingError(`nginx did not answer within 10 s. Its log:\n${await exited}`);
}

/** The site config with its upstream servers and its listen address replaced. */
function siteConfig(text: string, upstreams: readonly number[], port: number): string {
  const servers = /^([ \t]*)server[ \t]+[^;\n]+:\d+([^;\n]*);[ \t]*\n?/gm;
  const first = servers.exec(text);
  if (first === null || !/^[ \t]*listen[ \t]+[^;\n]+;/m.test(text)) {
    throw testingError('the nginx config needs an upstream with server lines and a listen line.');
  }
  const [, indent = '', parameters = ''] = first;
  const lines = upstreams.map((upstream) => `${indent}server ${HOST}:${upstream}${parameters};\n`);
  let replaced = false;
  return text
    .replace(servers, () => {
      if (replaced) return '';
      replaced = true;
      return lines.join('');
    })
    .replace(/^([ \t]*)listen[ \t]+[^;\n]+;/m, `$1listen ${HOST}:${port};`);
}
