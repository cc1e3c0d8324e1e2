import type { Server } from 'node:http';
import { mount } from '@fairmind/hono';
import { nodeClientAddress, nodeEncoder } from '@fairmind/hono/node';
import { serveUntilShutdown, startPlatformProcess } from '@fairmind/platform';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

// Configuration, migrations and the first admin, then the listener; shutdown runs backwards.
const name = 'example-hono';
// A .env beside the process (or at the repository root) is read first; real variables win.
const { config, logger, lifecycle, platform } = await startPlatformProcess({
  name,
  envFiles: ['.env', new URL('../../../.env', import.meta.url)],
});

// On Node: the socket peer from the Node request, and node:zlib so that br is on offer
// (CompressionStream, the default encoder, makes only gzip and deflate).
const app = new Hono();
mount(app, platform, {
  clientAddress: nodeClientAddress,
  compression: { encoder: nodeEncoder() },
  logger,
});

const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }) as Server;
serveUntilShutdown(server, { config, logger, lifecycle, platform, name });
