import { mount } from '@fairmind/express';
import { serveUntilShutdown, startPlatformProcess } from '@fairmind/platform';
import express from 'express';

// Configuration, migrations and the first admin, then the listener; shutdown runs backwards.
const name = 'example-express';
// A .env beside the process (or at the repository root) is read first; real variables win.
const { config, logger, lifecycle, platform } = await startPlatformProcess({
  name,
  envFiles: ['.env', new URL('../../../.env', import.meta.url)],
});

const app = express();
app.disable('x-powered-by');
// Compression is asked for: the platform's contract compresses bodies over 1024 bytes.
mount(app, platform, { logger, compression: {} });

serveUntilShutdown(app.listen(config.port, config.host), {
  config,
  logger,
  lifecycle,
  platform,
  name,
});
