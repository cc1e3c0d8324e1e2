import { once } from 'node:events';
import { createConnection, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy } from './fault-proxy.js';
import { sleep } from './util.js';

describe('startFaultProxy', () => {
  let echo: Server;
  beforeAll(async () => {
    echo = createServer((socket) => socket.pipe(socket)).listen(0, '127.0.0.1');
    await once(echo, 'listening');
  });
  afterAll(() => new Promise<void>((resolve) => echo.close(() => resolve())));

  it('forwards, holds everything back as a blackhole, then delivers it when forwarding again', async () => {
    const proxy = await startFaultProxy((echo.address() as { port: number }).port);
    const socket = createConnection({ host: '127.0.0.1', port: proxy.port });
    try {
      socket.write('one');
      expect(String((await once(socket, 'data'))[0])).toBe('one');

      proxy.blackhole();
      let forwarded = false;
      const held = once(socket, 'data').then(([chunk]) => ({ chunk: String(chunk), forwarded }));
      socket.write('two');
      await sleep(200);
      forwarded = true;
      proxy.forward();
      expect(await held).toEqual({ chunk: 'two', forwarded: true });

      // A connect made while silent is accepted and served once forwarding resumes.
      proxy.blackhole();
      const late = createConnection({ host: '127.0.0.1', port: proxy.port });
      await once(late, 'connect');
      late.write('three');
      proxy.forward();
      expect(String((await once(late, 'data'))[0])).toBe('three');
      late.destroy();
    } finally {
      socket.destroy();
      await proxy.close();
    }
  });
});
