import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

// verdaccio 6.8 is the last release that runs on Node 20. It is installed on first use into
// node_modules/.cache (never a workspace dependency: 300 packages nobody else needs).
const VERDACCIO = 'verdaccio@6.8.0';

/**
 * The environment for npm as a user's shell has it. Under `pnpm run`, pnpm exports its own
 * `npm_config_*` variables (registry included), which would outrank a project's `.npmrc`.
 */
export function npmEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^npm_(config|package|lifecycle)_/i.test(name)) env[name] = value;
  }
  return { ...env, ...extra };
}

/** A private npm registry on a loopback port, for publishing exactly as a release would. */
export interface LocalRegistry {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  /** An npm user config file with the publishing token. */
  readonly userconfig: string;
  /** Publishes a tarball with npm, as `changeset publish` does in the release job. */
  publish(tarball: string): void;
  stop(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function installVerdaccio(cache: string): string {
  const bin = join(cache, 'node_modules', 'verdaccio', 'bin', 'verdaccio');
  if (existsSync(bin)) return bin;
  mkdirSync(cache, { recursive: true });
  writeFileSync(join(cache, 'package.json'), '{ "private": true }\n');
  execFileSync(
    'npm',
    ['install', '--no-audit', '--no-fund', '--loglevel=error', '--no-package-lock', VERDACCIO],
    { cwd: cache, stdio: 'inherit', env: npmEnv() },
  );
  return bin;
}

async function waitFor(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`verdaccio exited early:\n${output()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`verdaccio did not answer ${url} within 30 s:\n${output()}`);
}

/**
 * Starts verdaccio with its storage in `dir`. `@fairmind/*` is served only from what is
 * published to it; every other package is fetched through it from `upstream`, so a project
 * pointed at it installs as a user's would.
 */
export async function startLocalRegistry(
  dir: string,
  cache: string,
  upstream: string,
): Promise<LocalRegistry> {
  const bin = installVerdaccio(cache);
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    [
      `storage: ${join(dir, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${join(dir, 'htpasswd')}`,
      '    max_users: 1',
      'uplinks:',
      '  upstream:',
      `    url: ${upstream}`,
      '    timeout: 60s',
      'packages:',
      "  '@fairmind/*':",
      '    access: $all',
      '    publish: $authenticated',
      "  '**':",
      '    access: $all',
      '    proxy: upstream',
      'log: { type: stdout, format: json, level: warn }',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  let output = '';
  const child = spawn(
    process.execPath,
    [bin, '--config', config, '--listen', `127.0.0.1:${port}`],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGTERM');
  };
  try {
    await waitFor(`${url}-/ping`, child, () => output);
    const response = await fetch(`${url}-/user/org.couchdb.user:release`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'release', password: 'release-password' }),
    });
    const { token } = (await response.json()) as { token?: string };
    if (!response.ok || !token) throw new Error(`verdaccio refused the user: ${response.status}`);
    const userconfig = join(dir, 'npmrc');
    writeFileSync(userconfig, `//127.0.0.1:${port}/:_authToken=${token}\n`);
    return {
      url,
      userconfig,
      // Provenance needs the release job's OIDC identity, which no local run has: the flag
      // on the command line wins over publishConfig.provenance, as npm documents.
      publish(tarball) {
        execFileSync(
          'npm',
          ['publish', tarball, '--registry', url, '--provenance=false', '--loglevel=error'],
          { env: npmEnv({ NPM_CONFIG_USERCONFIG: userconfig }), stdio: 'pipe' },
        );
      },
      stop,
    };
  } catch (error) {
    stop();
    throw error;
  }
}
