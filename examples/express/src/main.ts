import { type FairmindConfig, FairmindError, loadConfig } from '@fairmind/core';
import { createLifecycle } from '@fairmind/core/lifecycle';
import { createLogger } from '@fairmind/core/logger';
import { createMetricsRegistry } from '@fairmind/core/metrics';
import { mount } from '@fairmind/express';
import { createPlatform } from '@fairmind/platform';
import express from 'express';

// Start-up order: configuration (a bad value stops here, every problem listed), migrations
// and the first admin, then the listener. Shutdown runs the same steps backwards.
let config: FairmindConfig;
try {
  config = loadConfig({ warn: (message) => console.warn(message) });
} catch (error) {
  console.error(error instanceof FairmindError ? error.message : error);
  process.exit(1);
}

const logger = createLogger({ level: config.logLevel, name: 'example-express' });
const registry = createMetricsRegistry({ labels: { service: 'example-express' } });
const lifecycle = createLifecycle({ logger, drainTimeoutMs: 10_000 });

const platform = createPlatform({ config, logger, registry });
lifecycle.onClose('platform', () => platform.close());
try {
  await platform.start();
} catch (error) {
  logger.error({ err: error }, '[example-express] could not start the platform');
  await lifecycle.close('start-up failed');
  process.exit(1);
}

const app = express();
app.disable('x-powered-by');
mount(app, platform, { logger });

const server = app.listen(config.port, config.host, () => {
  logger.info(
    { port: config.port, host: config.host, env: config.env },
    `[example-express] listening on http://${config.host}:${config.port}`,
  );
});
server.on('error', (error) => {
  logger.error({ err: error }, '[example-express] could not listen: is the port in use? Set PORT.');
  process.exit(1);
});

lifecycle.onClose('http', (signal) => {
  // Stop accepting, let in-flight requests finish, then drop idle keep-alive sockets.
  return new Promise<void>((resolve, reject) => {
    signal.addEventListener('abort', () => server.closeAllConnections(), { once: true });
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeIdleConnections();
  });
});
lifecycle.handleSignals();
