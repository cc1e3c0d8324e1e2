import { createConnection, createServer, type Socket } from 'node:net';
import { listenOnLoopback } from './util.js';

/** A TCP proxy in front of a server, which a test can turn into a blackhole and back. */
export interface FaultProxy {
  readonly port: number;
  /**
   * From now on nothing passes, either way, on open connections or new ones; connects are
   * still accepted. What a client sees of a network partition or a firewall dropping packets:
   * no error, no reset, only silence.
   */
  blackhole(): void;
  /** Lets traffic through again, including what was held back. */
  forward(): void;
  /** Closes every connection and stops listening. */
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  upstream: Socket | undefined;
}

/** Starts a {@link FaultProxy} on a free loopback port, forwarding to `127.0.0.1:targetPort`. */
export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  let silent = false;
  const pairs = new Set<Pair>();
  const drop = (pair: Pair) => {
    pairs.delete(pair);
    pair.client.destroy();
    pair.upstream?.destroy();
  };
  const flow = (pair: Pair) => {
    if (pair.upstream === undefined) {
      const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
      upstream.on('error', () => drop(pair));
      upstream.on('close', () => drop(pair));
      pair.upstream = upstream;
    }
    pair.client.pipe(pair.upstream);
    pair.upstream.pipe(pair.client);
  };
  const hold = (pair: Pair) => {
    // Paused streams keep what arrives, as a partitioned network's peers keep retransmitting.
    pair.client.unpipe();
    pair.client.pause();
    pair.upstream?.unpipe();
    pair.upstream?.pause();
  };
  const server = createServer((client) => {
    const pair: Pair = { client, upstream: undefined };
    pairs.add(pair);
    client.on('error', () => drop(pair));
    client.on('close', () => drop(pair));
    if (silent) client.pause();
    else flow(pair);
  });
  const port = await listenOnLoopback(server, 'the fault proxy');
  return {
    port,
    blackhole() {
      silent = true;
      for (const pair of pairs) hold(pair);
    },
    forward() {
      silent = false;
      for (const pair of pairs) flow(pair);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of pairs) drop(pair);
        server.close(() => resolve());
      }),
  };
}
