import { type Logger, watchRedisClient } from '@fairmind/core';
import { type Cluster, Redis } from 'ioredis';
import { PKG } from '../errors/index.js';
import type { RedisClient } from '../store/index.js';

/** What one instance tells the others. */
export type BusMessage =
  /** These keys changed or went away: drop your L1 copies. */
  | { readonly kind: 'keys'; readonly keys: readonly string[] }
  /** These tags were invalidated at `at`: hide entries created up to then. */
  | { readonly kind: 'tags'; readonly tags: readonly string[]; readonly at: number }
  /** Everything under this key prefix ('' for all) was cleared. */
  | { readonly kind: 'clear'; readonly prefix: string };

/** Where the bus stands. */
export type BusState = 'subscribed' | 'connecting' | 'closed';

/** Settings of {@link Bus}. */
export interface BusSettings {
  /** The cache's client; the bus subscribes on a duplicate of it, never on it. */
  client: RedisClient;
  channel: string;
  instanceId: string;
  logger: Logger;
  onMessage: (message: BusMessage) => void;
  /**
   * Called once the subscription is back after a lost connection: messages sent meanwhile
   * are gone, so the cache flushes its L1.
   */
  onResubscribed: () => void;
  /** Counts malformed messages and subscription errors. */
  onError: (error: unknown) => void;
}

interface Wire {
  /** Sender's instance id. */
  i: string;
  /** 'k' keys, 't' tags, 'c' clear. */
  k: 'k' | 't' | 'c';
  d: string[] | string;
  at?: number;
}

/** The text published for a message from `instanceId`. */
export function encodeMessage(instanceId: string, message: BusMessage): string {
  const wire: Wire =
    message.kind === 'keys'
      ? { i: instanceId, k: 'k', d: [...message.keys] }
      : message.kind === 'tags'
        ? { i: instanceId, k: 't', d: [...message.tags], at: message.at }
        : { i: instanceId, k: 'c', d: message.prefix };
  return JSON.stringify(wire);
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/** The message in a published text, with its sender, or `undefined` when malformed. */
export function decodeMessage(text: string): { from: string; message: BusMessage } | undefined {
  let wire: Partial<Wire>;
  try {
    wire = JSON.parse(text) as Partial<Wire>;
  } catch {
    return undefined;
  }
  if (typeof wire !== 'object' || wire === null || typeof wire.i !== 'string') return undefined;
  if (wire.k === 'k' && isStrings(wire.d))
    return { from: wire.i, message: { kind: 'keys', keys: wire.d } };
  if (wire.k === 't' && isStrings(wire.d) && typeof wire.at === 'number') {
    return { from: wire.i, message: { kind: 'tags', tags: wire.d, at: wire.at } };
  }
  if (wire.k === 'c' && typeof wire.d === 'string') {
    return { from: wire.i, message: { kind: 'clear', prefix: wire.d } };
  }
  return undefined;
}

/**
 * The invalidation bus: Redis pub/sub on a connection of its own (a subscribed connection
 * can send nothing else). Messages carry the sender's instance id and the sender ignores its
 * own. The subscription is made again by hand on every `ready` rather than by ioredis's
 * auto-resubscribe, so that the L1 flush happens after the SUBSCRIBE is confirmed: anything
 * published after that point is received, and anything before it is flushed.
 *
 * On a Cluster the bus keeps a plain connection to one node of its own choosing instead of a
 * duplicated Cluster client. Classic pub/sub reaches every node of a cluster, so any node will
 * do; but ioredis's Cluster moves its subscriber to another node silently when that node
 * dies, and messages published in between would be lost without a flush. Owning the
 * connection, the bus sees the loss, picks a live node and flushes once subscribed there.
 */
export class Bus {
  readonly #settings: BusSettings;
  #subscriber: Redis | undefined;
  #state: BusState = 'connecting';
  #subscribedBefore = false;
  #closed = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  /** Cluster node connections failed in a row: the backoff before the next one. */
  #failures = 0;

  constructor(settings: BusSettings) {
    this.#settings = settings;
    const client = settings.client;
    if ((client as { isCluster?: boolean }).isCluster === true) {
      this.#onClusterNode(client as Cluster);
    } else {
      this.#subscriber = this.#watch(
        (client as Redis).duplicate({
          enableOfflineQueue: false,
          autoResubscribe: false,
          connectionName: this.connectionName,
          lazyConnect: false,
        }),
      );
      watchRedisClient(this.#subscriber, { logger: settings.logger, name: '@fairmind/cache bus' });
    }
  }

  #watch(subscriber: Redis): Redis {
    subscriber.on('close', () => {
      if (this.#state === 'subscribed') {
        this.#settings.logger.warn(
          {},
          `${PKG} invalidation bus disconnected; L1 will be flushed when it is back`,
        );
      }
      if (!this.#closed) this.#state = 'connecting';
    });
    subscriber.on('ready', () => this.#subscribe(subscriber));
    subscriber.on('message', (channel: string, text: string) => this.#receive(channel, text));
    return subscriber;
  }

  // A node the cluster client knows now (after a failover, the promoted replica is among
  // them; before its first connection, none yet); with no reconnection of its own, a lost
  // node ends the connection and the next attempt picks again, so a dead node is never
  // waited for.
  #onClusterNode(cluster: Cluster): void {
    const known = cluster.nodes('all');
    const node = known[Math.floor(Math.random() * known.length)]?.options;
    if (node?.host === undefined || node.port === undefined) {
      this.#subscriber = undefined;
      this.#retryClusterNode(cluster);
      return;
    }
    const subscriber = new Redis({
      ...cluster.options.redisOptions,
      host: node.host,
      port: node.port,
      enableOfflineQueue: false,
      autoResubscribe: false,
      connectionName: this.connectionName,
      lazyConnect: false,
      retryStrategy: () => null,
    });
    // Each failed attempt is a new client: errors go to debug, the 'close' warning says enough.
    subscriber.on('error', (error: Error) =>
      this.#settings.logger.debug({ err: error }, `${PKG} bus connection failed`),
    );
    subscriber.once('end', () => this.#retryClusterNode(cluster));
    this.#subscriber = this.#watch(subscriber);
  }

  #retryClusterNode(cluster: Cluster): void {
    if (this.#closed) return;
    const delay = Math.min(50 * 2 ** this.#failures, 1_000);
    this.#failures++;
    this.#retry = setTimeout(() => this.#onClusterNode(cluster), delay);
    this.#retry.unref?.();
  }

  get state(): BusState {
    return this.#state;
  }

  /** The subscriber connection, for operators (and tests) to identify it. */
  get connectionName(): string {
    return `fairmind-cache-bus:${this.#settings.instanceId}`;
  }

  #subscribe(subscriber: Redis): void {
    subscriber.subscribe(this.#settings.channel).then(
      () => {
        if (this.#closed) return;
        this.#state = 'subscribed';
        this.#failures = 0;
        if (this.#subscribedBefore) {
          this.#settings.logger.info({}, `${PKG} invalidation bus back; L1 flushed`);
          this.#settings.onResubscribed();
        }
        this.#subscribedBefore = true;
      },
      (error: unknown) => {
        // The next 'ready' after a reconnect tries again.
        this.#settings.onError(error);
        this.#settings.logger.debug({ err: error }, `${PKG} bus SUBSCRIBE failed`);
      },
    );
  }

  #receive(channel: string, text: string): void {
    if (channel !== this.#settings.channel) return;
    const decoded = decodeMessage(text);
    if (decoded === undefined) {
      this.#settings.onError(new Error(`${PKG} malformed bus message ignored`));
      return;
    }
    if (decoded.from === this.#settings.instanceId) return;
    this.#settings.onMessage(decoded.message);
  }

  /** Resolves once subscribed, or after `timeoutMs` whatever the state. */
  async ready(timeoutMs: number): Promise<BusState> {
    const deadline = Date.now() + timeoutMs;
    while (this.#state !== 'subscribed' && !this.#closed && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.#state;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#state = 'closed';
    clearTimeout(this.#retry);
    this.#subscriber?.disconnect();
  }
}
