import { frameworkErrorHandler, mount } from '@fairmind/fastify';
import { serveUntilShutdown, startPlatformProcess } from '@fairmind/platform';
import Fastify from 'fastify';

// Configuration, migrations and the first admin, then the listener; shutdown runs backwards.
const name = 'example-fastify';
// A .env beside the process (or at the repository root) is read first; real variables win.
const { config, logger, lifecycle, platform } = await startPlatformProcess({
  name,
  envFiles: ['.env', new URL('../../../.env', import.meta.url)],
});

// Fastify's own logger stays off: the platform's request log writes one line per request.
// trustProxy stays off too: TRUSTED_PROXIES is applied by the platform's client-IP resolver.
// A URL Fastify cannot decode goes through the platform too, as on every other adapter.
const { middleware, handler } = platform;
const app = Fastify({
  logger: false,
  frameworkErrors: frameworkErrorHandler({ middleware, handler, logger }),
});
// Compression is asked for: the platform's contract compresses bodies over 1024 bytes.
mount(app, platform, { logger, compression: {} });

// Routes are compiled at ready(); the Node server then listens and drains like the others.
await app.ready();
serveUntilShutdown(app.server.listen(config.port, config.host), {
  config,
  logger,
  lifecycle,
  platform,
  name,
});
