import type { Server } from 'node:http';
import { type FairmindConfig, FairmindError, loadConfig } from '@fairmind/core';
import { createLifecycle } from '@fairmind/core/lifecycle';
import { createLogger } from '@fairmind/core/logger';
import { createMetricsRegistry } from '@fairmind/core/metrics';
import { mount } from '@fairmind/hono';
import { nodeClientAddress, nodeEncoder } from '@fairmind/hono/node';
import { createPlatform } from '@fairmind/platform';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

// Start-up order: configuration (a bad value stops here, every problem listed), migrations
// and the first admin, then the listener. Shutdown runs the same steps backwards.
let config: FairmindConfig;
try {
  config = loadConfig({ warn: (message) => console.warn(message) });
} catch (error) {
  console.error(error instanceof FairmindError ? error.message : error);
  process.exit(1);
}

const logger = createLogger({ level: config.logLevel, name: 'example-hono' });
const registry = createMetricsRegistry({ labels: { service: 'example-hono' } });
const lifecycle = createLifecycle({ logger, drainTimeoutMs: 10_000 });

const platform = createPlatform({ config, logger, registry });
lifecycle.onClose('platform', () => platform.close());
try {
  await platform.start();
} catch (error) {
  logger.error({ err: error }, '[example-hono] could not start the platform');
  await lifecycle.close('start-up failed');
  process.exit(1);
}

// On Node: the socket peer from the Node request, and node:zlib so that br is on offer
// (CompressionStream, the default encoder, makes only gzip and deflate).
const app = new Hono();
mount(app, platform, {
  clientAddress: nodeClientAddress,
  compression: { encoder: nodeEncoder() },
  logger,
});

const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => {
  logger.info(
    { port: config.port, host: config.host, env: config.env },
    `[example-hono] listening on http://${config.host}:${config.port}`,
  );
}) as Server;
server.on('error', (error) => {
  logger.error({ err: error }, '[example-hono] could not listen: is the port in use? Set PORT.');
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
