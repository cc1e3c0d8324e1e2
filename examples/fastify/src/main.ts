import { type FairmindConfig, FairmindError, loadConfig } from '@fairmind/core';
import { createLifecycle } from '@fairmind/core/lifecycle';
import { createLogger } from '@fairmind/core/logger';
import { createMetricsRegistry } from '@fairmind/core/metrics';
import { frameworkErrorHandler, mount } from '@fairmind/fastify';
import { createPlatform } from '@fairmind/platform';
import Fastify from 'fastify';

// Start-up order: configuration (a bad value stops here, every problem listed), migrations
// and the first admin, then the listener. Shutdown runs the same steps backwards.
let config: FairmindConfig;
try {
  config = loadConfig({ warn: (message) => console.warn(message) });
} catch (error) {
  console.error(error instanceof FairmindError ? error.message : error);
  process.exit(1);
}

const logger = createLogger({ level: config.logLevel, name: 'example-fastify' });
const registry = createMetricsRegistry({ labels: { service: 'example-fastify' } });
const lifecycle = createLifecycle({ logger, drainTimeoutMs: 10_000 });

const platform = createPlatform({ config, logger, registry });
lifecycle.onClose('platform', () => platform.close());
try {
  await platform.start();
} catch (error) {
  logger.error({ err: error }, '[example-fastify] could not start the platform');
  await lifecycle.close('start-up failed');
  process.exit(1);
}

// Fastify's own logger stays off: the platform's request log writes one line per request.
// trustProxy stays off too: TRUSTED_PROXIES is applied by the platform's client-IP resolver.
// A URL Fastify cannot decode goes through the platform too, as on every other adapter.
const { middleware, handler } = platform;
const app = Fastify({
  logger: false,
  frameworkErrors: frameworkErrorHandler({ middleware, handler, logger }),
});
mount(app, platform, { logger });

try {
  await app.listen({ port: config.port, host: config.host });
  logger.info(
    { port: config.port, host: config.host, env: config.env },
    `[example-fastify] listening on http://${config.host}:${config.port}`,
  );
} catch (error) {
  logger.error({ err: error }, '[example-fastify] could not listen: is the port in use? Set PORT.');
  await lifecycle.close('listen failed');
  process.exit(1);
}

lifecycle.onClose('http', (signal) => {
  // app.close() stops accepting, lets in-flight requests finish and drops idle keep-alive
  // sockets; past the drain deadline the rest are cut.
  signal.addEventListener('abort', () => app.server.closeAllConnections(), { once: true });
  return app.close();
});
lifecycle.handleSignals();
