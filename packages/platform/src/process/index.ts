import type { Server } from 'node:http';
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

/**
 * Logs where `server` listens (or why it could not), and on SIGTERM or SIGINT stops accepting,
 * lets in-flight requests finish, drops idle keep-alive sockets, and past the drain deadline
 * cuts the rest; then the platform closes and the process exits 0 (1 if the drain failed).
 */
export function serveUntilShutdown(
  server: Server,
  context: Pick<PlatformProcess, 'config' | 'logger' | 'lifecycle'> & { name: string },
): void {
  const { config, logger, lifecycle, name } = context;
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
      signal.addEventListener('abort', () => server.closeAllConnections(), { once: true });
      server.close((error) => (error ? reject(error) : resolve()));
      server.closeIdleConnections();
    });
  });
  lifecycle.handleSignals();
}
