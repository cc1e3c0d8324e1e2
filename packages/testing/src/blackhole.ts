import { createServer, type Socket } from 'node:net';
import { listenOnLoopback } from './util.js';

/** A TCP server that accepts every connection and never answers. */
export interface BlackholeServer {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Stops listening and destroys every connection it holds. */
  close(): Promise<void>;
}

/**
 * Starts a server on a free loopback port that accepts TCP and then says nothing: what a
 * client sees of a host behind a firewall that drops replies, a hung server or a stuck proxy.
 * Unlike a closed port, the connect succeeds, so only the client's own timeouts end the wait.
 */
export async function startBlackholeServer(): Promise<BlackholeServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    // The client giving up resets the socket; that is the expected end, not a failure.
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listenOnLoopback(server, 'the blackhole server');
  return {
    port,
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
