import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FairmindConfig, silentLogger } from '@fairmind/core';
import { createLifecycle, type Lifecycle } from '@fairmind/core/lifecycle';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadEnvFile, serveUntilShutdown } from './index.js';

const open: { server: Server; lifecycle: Lifecycle }[] = [];

afterEach(async () => {
  for (const { server, lifecycle } of open.splice(0)) {
    server.closeAllConnections();
    await lifecycle.close('test over');
  }
});

function served(_req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('content-type', 'text/plain');
  res.end('served');
}

async function serve(
  idleGraceMs?: number,
  handler: (req: IncomingMessage, res: ServerResponse) => void = served,
  shutdownDelayMs = 0,
) {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  // No signals: the test closes the lifecycle itself, as a signal would.
  const lifecycle = createLifecycle({ logger: silentLogger, signals: [], exit: () => {} });
  const config = {
    port,
    host: '127.0.0.1',
    env: 'test',
    shutdownDelayMs,
  } as unknown as FairmindConfig;
  serveUntilShutdown(server, {
    config,
    logger: silentLogger,
    lifecycle,
    name: 'test',
    ...(idleGraceMs === undefined ? {} : { idleGraceMs }),
  });
  open.push({ server, lifecycle });
  return { server, lifecycle, port };
}

/**
 * A server whose one request is left running until the test answers it, kept-alive for a
 * minute, and that request sent; `headersFirst` sends the status line and headers at once.
 */
async function slowRequest(idleGraceMs: number, headersFirst: boolean) {
  let running: ServerResponse | undefined;
  const { server, lifecycle, port } = await serve(idleGraceMs, (_req, res) => {
    if (headersFirst) res.writeHead(200).flushHeaders();
    running = res;
  });
  server.keepAliveTimeout = 60_000;
  const socket = await acceptedSocket(server, port);
  const reply = received(socket);
  socket.write('GET /slow HTTP/1.1\r\nHost: test\r\n\r\n');
  for (let turn = 0; turn < 1000 && running === undefined; turn++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { server, lifecycle, reply, finish: () => running?.end('late') };
}

/** A connection the server has accepted, with nothing sent on it yet. */
async function acceptedSocket(server: Server, port: number): Promise<Socket> {
  const accepted = once(server, 'connection');
  const socket = connect(port, '127.0.0.1');
  await Promise.all([once(socket, 'connect'), accepted]);
  return socket;
}

/** Everything the server sends until it closes the socket. */
function received(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
  });
}

async function untilClosed(server: Server): Promise<void> {
  for (let turn = 0; turn < 1000 && server.listening; turn++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(server.listening).toBe(false);
}

describe('serveUntilShutdown', () => {
  it('answers a request that arrives on a kept-alive connection just after the signal', async () => {
    const { server, lifecycle, port } = await serve();
    const socket = await acceptedSocket(server, port);
    // One request first, so the socket is what Node calls idle: kept alive between two.
    socket.write('GET /first HTTP/1.1\r\nHost: test\r\n\r\n');
    const [first] = (await once(socket, 'data')) as [Buffer];
    expect(first.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(first.toString()).toMatch(/\r\nConnection: keep-alive\r\n/i);
    const reply = received(socket);
    const closed = lifecycle.close('SIGTERM');
    await untilClosed(server);
    // The server has stopped listening; the request only now reaches it.
    socket.write('POST /login HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\n{}');
    const text = await reply;
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toMatch(/\r\nConnection: close\r\n/i);
    expect(text.endsWith('served')).toBe(true);
    expect(await closed).toBe(true);
  });

  it('refuses new connections at once and closes idle ones after the grace', async () => {
    const { server, lifecycle, port } = await serve(50);
    let closeEvents = 0;
    server.on('close', () => closeEvents++);
    const idle = await acceptedSocket(server, port);
    idle.write('GET / HTTP/1.1\r\nHost: test\r\n\r\n');
    await once(idle, 'data');
    const idleClosed = once(idle, 'close');
    const closed = lifecycle.close('SIGTERM');
    await untilClosed(server);
    const refused = connect(port, '127.0.0.1');
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
    // The shutdown completes without anyone touching the idle socket.
    await idleClosed;
    expect(await closed).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(closeEvents).toBe(1);
  });

  it('drops a socket that goes idle after the grace, without waiting for keep-alive', async () => {
    // Begun before the signal with its headers sent kept-alive, answered after the grace.
    const { lifecycle, reply, finish } = await slowRequest(50, true);
    const closed = lifecycle.close('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 120));
    finish();
    const text = await reply;
    expect(text).toMatch(/\r\nConnection: keep-alive\r\n/i);
    // Sent chunked, its headers having gone before its length was known.
    expect(text.endsWith('4\r\nlate\r\n0\r\n\r\n')).toBe(true);
    expect(await closed).toBe(true);
  });

  it('tells a response begun before the signal, headers not yet sent, to close its connection', async () => {
    // A grace as long as the drain allows: only the response's own header ends the socket.
    const { server, lifecycle, reply, finish } = await slowRequest(9_000, false);
    const closed = lifecycle.close('SIGTERM');
    await untilClosed(server);
    finish();
    const text = await reply;
    expect(text).toMatch(/\r\nConnection: close\r\n/i);
    expect(text.endsWith('late')).toBe(true);
    expect(await closed).toBe(true);
  });

  /** serveUntilShutdown on a server that never listens, with these options. */
  const serveWith = (options: { idleGraceMs?: number; shutdownDelayMs?: number }) => () =>
    serveUntilShutdown(createServer(), {
      config: { port: 0, host: '127.0.0.1', env: 'test', shutdownDelayMs: 0 } as FairmindConfig,
      logger: silentLogger,
      lifecycle: createLifecycle({ logger: silentLogger, signals: [], exit: () => {} }),
      name: 'test',
      ...options,
    });

  it.each([-1, 0, Number.NaN, 10_000, 60_000])('refuses a grace of %s ms', (idleGraceMs) => {
    expect(serveWith({ idleGraceMs })).toThrow(
      /idleGraceMs must be at least 1 and shorter than the drain deadline \(10000 ms\)/,
    );
  });

  it.each([-1, Number.NaN, 10_000])('refuses a shutdown delay of %s ms', (shutdownDelayMs) => {
    expect(serveWith({ shutdownDelayMs })).toThrow(
      /shutdownDelayMs must be 0 or more and shorter than the drain deadline/,
    );
  });
});

/** Waits up to `ms` for the server to stop listening. */
async function closedWithin(server: Server, ms: number): Promise<boolean> {
  for (let waited = 0; waited < ms && server.listening; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return !server.listening;
}

/** A server with a shutdown delay that counts the requests its handler saw. */
async function counting(shutdownDelayMs: number) {
  let handled = 0;
  const started = await serve(
    undefined,
    (req, res) => {
      handled++;
      served(req, res);
    },
    shutdownDelayMs,
  );
  return { ...started, handled: () => handled };
}

describe('serveUntilShutdown with a shutdown delay', () => {
  it('answers new requests 503 SHUTTING_DOWN without running them, then closes once quiet', async () => {
    const { server, lifecycle, port, handled } = await counting(9_000);
    const closed = lifecycle.close('SIGTERM');
    const response = await fetch(`http://127.0.0.1:${port}/api/v1/models`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'never written' }),
    });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(response.headers.get('connection')).toBe('close');
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await response.json()).toMatchObject({ status: 503, code: 'SHUTTING_DOWN' });
    expect(handled()).toBe(0);
    // Nothing more arrives, so the port closes long before the 9 s delay is over.
    expect(await closedWithin(server, 5_000)).toBe(true);
    expect(await closed).toBe(true);
  });

  it('keeps the port open while requests keep coming, until the delay is over', async () => {
    const { server, lifecycle, port, handled } = await counting(600);
    const closed = lifecycle.close('SIGTERM');
    const statuses = new Set<number | string>();
    // One request every 100 ms, each inside the 250 ms quiet window of the one before.
    for (let turn = 0; turn < 100 && server.listening; turn++) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/`);
        statuses.add(response.status);
        await response.arrayBuffer();
      } catch (error) {
        statuses.add((error as { cause?: { code?: string } }).cause?.code ?? 'error');
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(server.listening).toBe(false);
    // Turned away until the port closed, then refused: never served, never reset.
    expect([...statuses].every((status) => status === 503 || status === 'ECONNREFUSED')).toBe(true);
    expect(statuses.has(503)).toBe(true);
    expect(handled()).toBe(0);
    expect(await closed).toBe(true);
  });
});

describe('loadEnvFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fairmind-env-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the first file that exists; a variable already set keeps its value', () => {
    const file = join(dir, 'first.env');
    writeFileSync(
      file,
      'PORT=4100\nLOG_LEVEL=debug\n# a comment\nCORS_ORIGINS="https://a.example, https://b.example"\n',
    );
    const env: Record<string, string | undefined> = { LOG_LEVEL: 'warn' };
    const report = loadEnvFile([join(dir, 'missing.env'), file, join(dir, 'never.env')], env);
    expect(report.path).toBe(file);
    expect(env).toEqual({
      PORT: '4100',
      LOG_LEVEL: 'warn',
      CORS_ORIGINS: 'https://a.example, https://b.example',
    });
    expect([...report.applied].sort()).toEqual(['CORS_ORIGINS', 'PORT']);
    expect(report.kept).toEqual(['LOG_LEVEL']);
  });

  it('reports the candidates it looked for when none exists, and changes nothing', () => {
    const env: Record<string, string | undefined> = {};
    const report = loadEnvFile([join(dir, 'a.env'), new URL(`file://${join(dir, 'b.env')}`)], env);
    expect(report).toEqual({
      path: null,
      candidates: [join(dir, 'a.env'), join(dir, 'b.env')],
      applied: [],
      kept: [],
    });
    expect(env).toEqual({});
  });

  it('refuses a file it cannot read, naming it', () => {
    const unreadable = join(dir, 'folder.env');
    mkdirSync(unreadable);
    expect(() => loadEnvFile([unreadable], {})).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        message: expect.stringContaining(unreadable),
      }),
    );
  });
});
