import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import {
  type FairmindConfig,
  FairmindError,
  findCause,
  invalidOptions,
  isFairmindError,
  type Logger,
  loadConfig,
} from '@fairmind/core';
import { createLifecycle, type Lifecycle } from '@fairmind/core/lifecycle';
import { createLogger } from '@fairmind/core/logger';
import { createMetricsRegistry, type Registry } from '@fairmind/core/metrics';
import { answerParserErrors } from '@fairmind/core/node';
import { createPlatform, type Platform } from '../app/index.js';
import { turnAwayNewRequests } from './turn-away.js';

/** Everything a server process needs around the platform. */
export interface PlatformProcess {
  readonly config: FairmindConfig;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly lifecycle: Lifecycle;
  readonly platform: Platform;
}

/** Options of {@link startPlatformProcess}. */
export interface StartPlatformProcessOptions {
  /** The service name in logs and metrics, such as `'example-express'`. */
  name: string;
  /**
   * How long in-flight requests may take to finish after SIGTERM; overrides the
   * configuration's `drainTimeoutMs` (`SHUTDOWN_TIMEOUT`).
   * @default config.drainTimeoutMs (10_000)
   */
  drainTimeoutMs?: number | undefined;
  /**
   * Read the environment from here instead of `process.env`; no `.env` file is read then.
   * @default process.env
   */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /**
   * `.env` files to look for, in order; the first that exists is read into `process.env`
   * before the configuration, and a variable already set in the environment keeps its value.
   * Relative paths are from the working directory. `false` reads none. The variable
   * `FAIRMIND_ENV_FILE` overrides this: a path to read that file alone (it must exist), or
   * `none` to read no file.
   * @default ['.env']
   */
  envFiles?: readonly (string | URL)[] | false | undefined;
}

/** What {@link loadEnvFile} did, for the start-up log. */
export interface EnvFileReport {
  /** The file read, or `null` when none of the candidates exists. */
  readonly path: string | null;
  /** The files looked for, as absolute paths. */
  readonly candidates: readonly string[];
  /** Variables the file set. */
  readonly applied: readonly string[];
  /** Variables the file names that were already set in the environment, which wins. */
  readonly kept: readonly string[];
}

/**
 * Reads the first of `candidates` that exists into `env`, leaving every variable that is
 * already set as it is (the real environment wins, as with `node --env-file`). Node's own
 * `util.parseEnv` parses the file; its names are reported so start-up can log what it read.
 *
 * @throws {FairmindError} `CONFIG_INVALID` when the file exists but cannot be read.
 * @example
 * ```ts
 * const report = loadEnvFile(['.env']);
 * console.log(report.path ?? 'no .env file');
 * ```
 */
export function loadEnvFile(
  candidates: readonly (string | URL)[],
  env: Record<string, string | undefined> = process.env,
): EnvFileReport {
  const paths = candidates.map((candidate) =>
    candidate instanceof URL ? fileURLToPath(candidate) : resolve(candidate),
  );
  const path = paths.find((candidate) => existsSync(candidate));
  if (path === undefined) return { path: null, candidates: paths, applied: [], kept: [] };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FairmindError(
      'CONFIG_INVALID',
      500,
      `[@fairmind/platform] could not read ${path}: ${(error as Error).message}. Fix its permissions or remove it.`,
      { cause: error },
    );
  }
  const applied: string[] = [];
  const kept: string[] = [];
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (env[name] !== undefined) {
      kept.push(name);
    } else {
      env[name] = value;
      applied.push(name);
    }
  }
  return { path, candidates: paths, applied, kept };
}

/** The `.env` file start-up reads: the one `FAIRMIND_ENV_FILE` names, else `envFiles`'. */
function readEnvFile(options: StartPlatformProcessOptions): EnvFileReport | undefined {
  const chosen = process.env['FAIRMIND_ENV_FILE'] || undefined;
  if (options.env !== undefined || chosen === 'none') return undefined;
  if (chosen === undefined) {
    return options.envFiles === false ? undefined : loadEnvFile(options.envFiles ?? ['.env']);
  }
  const report = loadEnvFile([chosen]);
  if (report.path === null) {
    throw new FairmindError(
      'CONFIG_INVALID',
      500,
      `[@fairmind/platform] FAIRMIND_ENV_FILE names ${report.candidates[0]}, which does not exist: fix the path, or set it to none to read no file.`,
    );
  }
  return report;
}

/**
 * The start-up every FairMind server shares, in order: the configuration (a bad value ends
 * the process with exit code 1 and one message naming every bad variable), the logger and the
 * metrics registry, the platform with its migrations and first admin, and a lifecycle whose
 * first close hook closes the platform. What is left to the caller is the framework: mount
 * the platform, listen, then {@link serveUntilShutdown}.
 *
 * @example
 * ```ts
 * const { config, logger, lifecycle, platform } = await startPlatformProcess({ name: 'api' });
 * const app = express();
 * mount(app, platform, { logger });
 * serveUntilShutdown(app.listen(config.port, config.host), { config, logger, lifecycle, platform, name: 'api' });
 * ```
 */
export async function startPlatformProcess(
  options: StartPlatformProcessOptions,
): Promise<PlatformProcess> {
  const { name } = options;
  let config: FairmindConfig;
  let envFile: EnvFileReport | undefined;
  try {
    envFile = readEnvFile(options);
    config = loadConfig({
      ...(options.env ? { env: options.env } : {}),
      warn: (message) => console.warn(message),
    });
  } catch (error) {
    console.error(error instanceof FairmindError ? error.message : error);
    process.exit(1);
  }
  const logger = createLogger({ level: config.logLevel, name });
  if (envFile?.path) {
    logger.info(
      { path: envFile.path, applied: envFile.applied, keptFromEnvironment: envFile.kept },
      `[${name}] read ${envFile.path}: ${envFile.applied.length} variable(s) set, ${envFile.kept.length} left as the environment has them`,
    );
  } else if (envFile) {
    logger.info(
      { candidates: envFile.candidates },
      `[${name}] no .env file (looked for ${envFile.candidates.join(', ')}): the environment alone configures this process`,
    );
  }
  const registry = createMetricsRegistry({ labels: { service: name } });
  const lifecycle = createLifecycle({
    logger,
    drainTimeoutMs: options.drainTimeoutMs ?? config.drainTimeoutMs,
  });
  const platform = createPlatform({ config, logger, registry, draining: () => lifecycle.closing });
  lifecycle.onClose('platform', () => platform.close());
  try {
    await platform.start();
  } catch (error) {
    // A wrong setting (a database that does not exist, a refused password) is the operator's
    // to fix and its message says how: a stack would only bury it.
    const misconfigured = configurationError(error);
    if (misconfigured) {
      logger.error(
        { code: misconfigured.code },
        `[${name}] could not start, check the configuration: ${misconfigured.message}`,
      );
    } else {
      logger.error({ err: error }, `[${name}] could not start the platform`);
    }
    await lifecycle.close('start-up failed');
    process.exit(1);
  }
  return { config, logger, registry, lifecycle, platform };
}

/**
 * The configuration error behind `error`, if that is what it is: a {@link FairmindError} coded
 * `CONFIG_INVALID` or `<PACKAGE>_CONFIG_INVALID` (db-pool's `DB_CONFIG_INVALID`), itself or
 * among its first causes.
 */
function configurationError(error: unknown): FairmindError | undefined {
  return findCause(
    error,
    (cause): cause is FairmindError =>
      isFairmindError(cause) && /(?:^|_)CONFIG_INVALID$/.test(cause.code),
    5,
  );
}

/** Options of {@link serveUntilShutdown} beyond what {@link startPlatformProcess} returns. */
export interface ServeUntilShutdownOptions {
  /** The service name in log messages. */
  name: string;
  /**
   * How long kept-alive sockets between two requests stay open after SIGTERM. Node counts
   * such a socket as idle until it has read the next request on it, so closing idle sockets
   * at once resets a request that was already on the wire when the signal came: a login or
   * any other POST the client cannot safely retry. Within the grace it is read and answered
   * with `Connection: close`; new connections are refused from the start, and a socket that
   * goes idle later is dropped within one more grace. Must be shorter than the lifecycle's
   * drain deadline.
   * @default 1000
   */
  idleGraceMs?: number | undefined;
  /**
   * After SIGTERM, how long at most the port stays open answering every new request 503
   * `SHUTTING_DOWN` (nothing done, `Retry-After: 1`, `Connection: close`) before it closes,
   * so that a balancer which learns only from failures retries them elsewhere and stops
   * sending here first; the port closes as soon as no request has come for 250 ms. 0 closes
   * it at once. Must be shorter than the lifecycle's drain deadline.
   * @default config.shutdownDelayMs (`SHUTDOWN_DELAY`, 0)
   */
  shutdownDelayMs?: number | undefined;
  /**
   * The platform being served. Requests Node's HTTP parser refuses (a malformed request
   * line or header, headers over 16 KiB, `Content-Length` with `Transfer-Encoding`, a bad
   * chunk size, an unknown `Expect`) then run through its middleware and get a problem
   * document with the security headers and a request id, and a request-log line; without it
   * they still get a problem document, but none of those.
   * @default undefined
   */
  platform?: Pick<Platform, 'middleware'> | undefined;
}

/**
 * Answers what the HTTP parser refuses with a problem document (through the platform's
 * middleware when `platform` is given: `answerParserErrors` from `@fairmind/core/node`),
 * logs where `server` listens (or why it could not), and on SIGTERM or SIGINT stops accepting,
 * lets in-flight requests finish, closes idle keep-alive sockets after `idleGraceMs`, and past
 * the drain deadline cuts the rest; then the platform closes and the process exits 0 (1 if
 * the drain failed).
 *
 * @example
 * ```ts
 * serveUntilShutdown(app.listen(config.port, config.host), {
 *   config,
 *   logger,
 *   lifecycle,
 *   platform,
 *   name: 'api',
 * });
 * ```
 */
export function serveUntilShutdown(
  server: Server,
  context: Pick<PlatformProcess, 'config' | 'logger' | 'lifecycle'> & ServeUntilShutdownOptions,
): void {
  const { config, logger, lifecycle, name } = context;
  const idleGraceMs = context.idleGraceMs ?? 1000;
  const shutdownDelayMs = context.shutdownDelayMs ?? config.shutdownDelayMs;
  if (
    !Number.isFinite(shutdownDelayMs) ||
    shutdownDelayMs < 0 ||
    shutdownDelayMs >= lifecycle.drainTimeoutMs
  ) {
    throw invalidOptions(
      '@fairmind/platform',
      `serveUntilShutdown: shutdownDelayMs must be 0 or more and shorter than the drain deadline (${lifecycle.drainTimeoutMs} ms), got ${String(shutdownDelayMs)}.`,
    );
  }
  if (!Number.isFinite(idleGraceMs) || idleGraceMs < 1 || idleGraceMs >= lifecycle.drainTimeoutMs) {
    throw invalidOptions(
      '@fairmind/platform',
      `serveUntilShutdown: idleGraceMs must be at least 1 and shorter than the drain deadline (${lifecycle.drainTimeoutMs} ms), got ${String(idleGraceMs)}.`,
    );
  }
  answerParserErrors(server, { middleware: context.platform?.middleware, logger });
  const announce = () =>
    logger.info(
      { port: config.port, host: config.host, env: config.env },
      `[${name}] listening on http://${config.host}:${config.port}`,
    );
  if (server.listening) announce();
  else server.once('listening', announce);
  server.on('error', (error) => {
    logger.error({ err: error }, `[${name}] could not listen: is the port in use? Set PORT.`);
    void lifecycle.close('listen failed').then(() => process.exit(1));
  });
  // The responses under way, so that a drain can tell them to end their connection too:
  // sent kept-alive, each would hold the drain open until the next idle sweep.
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (draining) {
      res.setHeader('connection', 'close');
      return;
    }
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });
  lifecycle.onClose('http', async (signal) => {
    // Every response not yet begun ends its connection, so kept-alive clients move on.
    draining = true;
    for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
    inFlight.clear();
    if (shutdownDelayMs > 0) {
      const turnedAway = await turnAwayNewRequests(server, shutdownDelayMs, signal);
      logger.info(
        { turnedAway },
        `[${name}] closing the port; ${turnedAway} request(s) got 503 SHUTTING_DOWN meanwhile`,
      );
    }
    await new Promise<void>((resolve, reject) => {
      // Sockets still idle after the grace are dropped, and so, one grace later at most, is
      // any that goes idle afterwards (a response begun before the signal, sent kept-alive).
      const sweep = setInterval(() => server.closeIdleConnections(), idleGraceMs);
      const cutAll = () => {
        clearInterval(sweep);
        server.closeAllConnections();
      };
      signal.addEventListener('abort', cutAll, { once: true });
      closeKeepingIdleSockets(server, (error) => {
        clearInterval(sweep);
        signal.removeEventListener('abort', cutAll);
        if (error) reject(error);
        else resolve();
      });
    });
  });
  lifecycle.handleSignals();
}

/**
 * `http.Server#close()`, minus its first step. Node's close stops the listener and its
 * request-timeout timer, and first drops every kept-alive socket between two requests, and
 * with it a request already on its way on one of them: the client sees a reset it cannot
 * tell from a crash, and cannot safely retry a POST. The drop is `closeIdleConnections()`,
 * called on the server, so an instance property stands in for it during the call. (Closing
 * the listener with `net.Server#close` instead would leave the timer running, and the later
 * http close would emit `'close'` twice.)
 */
function closeKeepingIdleSockets(server: Server, callback: (error?: Error) => void): void {
  const target = server as { closeIdleConnections: () => void };
  target.closeIdleConnections = () => undefined;
  try {
    server.close(callback);
  } finally {
    Reflect.deleteProperty(target, 'closeIdleConnections');
  }
}
