import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { type FairmindConfig, FairmindError, type Logger, loadConfig } from '@fairmind/core';
import { createLifecycle, type Lifecycle } from '@fairmind/core/lifecycle';
import { createLogger } from '@fairmind/core/logger';
import { createMetricsRegistry, type Registry } from '@fairmind/core/metrics';
import { createPlatform, type Platform } from '../app/index.js';

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
   * How long in-flight requests may take to finish after SIGTERM.
   * @default 10_000
   */
  drainTimeoutMs?: number;
  /** @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
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
 * serveUntilShutdown(app.listen(config.port, config.host), { config, logger, lifecycle, name: 'api' });
 * ```
 */
export async function startPlatformProcess(
  options: StartPlatformProcessOptions,
): Promise<PlatformProcess> {
  const { name } = options;
  let config: FairmindConfig;
  try {
    config = loadConfig({
      ...(options.env ? { env: options.env } : {}),
      warn: (message) => console.warn(message),
    });
  } catch (error) {
    console.error(error instanceof FairmindError ? error.message : error);
    process.exit(1);
  }
  const logger = createLogger({ level: config.logLevel, name });
  const registry = createMetricsRegistry({ labels: { service: name } });
  const lifecycle = createLifecycle({ logger, drainTimeoutMs: options.drainTimeoutMs ?? 10_000 });
  const platform = createPlatform({ config, logger, registry, draining: () => lifecycle.closing });
  lifecycle.onClose('platform', () => platform.close());
  try {
    await platform.start();
  } catch (error) {
    logger.error({ err: error }, `[${name}] could not start the platform`);
    await lifecycle.close('start-up failed');
    process.exit(1);
  }
  return { config, logger, registry, lifecycle, platform };
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
  idleGraceMs?: number;
}

/**
 * Logs where `server` listens (or why it could not), and on SIGTERM or SIGINT stops accepting,
 * lets in-flight requests finish, closes idle keep-alive sockets after `idleGraceMs`, and past
 * the drain deadline cuts the rest; then the platform closes and the process exits 0 (1 if
 * the drain failed).
 *
 * @example
 * ```ts
 * serveUntilShutdown(app.listen(config.port, config.host), { config, logger, lifecycle, name: 'api' });
 * ```
 */
export function serveUntilShutdown(
  server: Server,
  context: Pick<PlatformProcess, 'config' | 'logger' | 'lifecycle'> & ServeUntilShutdownOptions,
): void {
  const { config, logger, lifecycle, name } = context;
  const idleGraceMs = context.idleGraceMs ?? 1000;
  if (!Number.isFinite(idleGraceMs) || idleGraceMs < 1 || idleGraceMs >= lifecycle.drainTimeoutMs) {
    throw new FairmindError(
      'INVALID_OPTIONS',
      500,
      `[@fairmind/platform] serveUntilShutdown: idleGraceMs must be at least 1 and shorter than the drain deadline (${lifecycle.drainTimeoutMs} ms), got ${String(idleGraceMs)}.`,
    );
  }
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
  lifecycle.onClose('http', (signal) => {
    return new Promise<void>((resolve, reject) => {
      // Every response from now on ends its connection, so kept-alive clients move on.
      server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) =>
        res.setHeader('connection', 'close'),
      );
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
