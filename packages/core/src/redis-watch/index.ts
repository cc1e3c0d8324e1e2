import type { Logger } from '../log/index.js';

/**
 * The part of an ioredis client (`Redis` or `Cluster`) the watcher needs. Declared here so that
 * `@fairmind/core` depends on no Redis client: any event emitter with these events fits.
 */
export interface WatchableRedis {
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'ready' | 'end', listener: () => void): unknown;
}

/** Options of {@link watchRedisClient}. */
export interface WatchRedisClientOptions {
  /** Where the state changes go. */
  logger: Logger;
  /**
   * Names the client in every line, such as `'@fairmind/cache'`.
   * @default '@fairmind/core'
   */
  name?: string | undefined;
}

// One watcher per client, whichever package saw it first: a client shared by the cache, the
// rate limiter and the auth stores must not log each outage three times.
const watched = new WeakSet<object>();

/**
 * Gives an ioredis client an `'error'` listener that logs once per state change: one warning
 * when the connection starts failing (with the first error), one line when it is ready again,
 * and every error in between at debug level only. Without any listener, Node prints
 * "Unhandled error event" for every reconnection attempt (dozens a minute while Redis is
 * down); with a plain `console.error` listener, as often. Every FairMind package calls this
 * on each client it creates or is given; calling it again for the same client does nothing.
 *
 * @returns `true` when this call attached the listeners, `false` when the client was watched
 * already.
 * @example
 * ```ts
 * import { watchRedisClient } from '@fairmind/core';
 * const redis = new Redis(process.env.REDIS_URL);
 * watchRedisClient(redis, { logger, name: 'my-app' });
 * ```
 */
export function watchRedisClient(
  client: WatchableRedis,
  options: WatchRedisClientOptions,
): boolean {
  if (watched.has(client)) return false;
  watched.add(client);
  const { logger } = options;
  const name = options.name ?? '@fairmind/core';
  let failing = false;
  client.on('error', (error: Error) => {
    if (failing) {
      logger.debug({ err: error }, `[${name}] Redis still unavailable`);
      return;
    }
    failing = true;
    logger.warn(
      { err: error },
      `[${name}] Redis connection failed (${error.message}); retrying in the background, next errors at debug level`,
    );
  });
  client.on('ready', () => {
    if (!failing) return;
    failing = false;
    logger.info({}, `[${name}] Redis connection is ready again`);
  });
  client.on('end', () => {
    // Closed for good (quit(), or retries exhausted): say so once.
    if (failing) logger.warn({}, `[${name}] Redis connection closed; no more retries`);
  });
  return true;
}
