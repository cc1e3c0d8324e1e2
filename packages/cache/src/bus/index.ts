import { type Logger, watchRedisClient } from '@fairmind/core';
import type { Cluster, Redis } from 'ioredis';
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
 */
export class Bus {
  readonly #settings: BusSettings;
  readonly #subscriber: RedisClient;
  #state: BusState = 'connecting';
  #subscribedBefore = false;
  #closed = false;

  constructor(settings: BusSettings) {
    this.#settings = settings;
    const name = `fairmind-cache-bus:${settings.instanceId}`;
    const client = settings.client;
    this.#subscriber =
      (client as { isCluster?: boolean }).isCluster === true
        ? (client as Cluster).duplicate(undefined, {
            enableOfflineQueue: false,
            redisOptions: {
              ...(client as Cluster).options.redisOptions,
              connectionName: name,
              autoResubscribe: false,
            },
          })
        : (client as Redis).duplicate({
            enableOfflineQueue: false,
            autoResubscribe: false,
            connectionName: name,
            lazyConnect: false,
          });
    watchRedisClient(this.#subscriber, { logger: settings.logger, name: '@fairmind/cache bus' });
    this.#subscriber.on('close', () => {
      if (this.#state === 'subscribed') {
        settings.logger.warn(
          {},
          `${PKG} invalidation bus disconnected; L1 will be flushed when it is back`,
        );
      }
      if (!this.#closed) this.#state = 'connecting';
    });
    this.#subscriber.on('ready', () => this.#subscribe());
    this.#subscriber.on('message', (channel: string, text: string) => this.#receive(channel, text));
  }

  get state(): BusState {
    return this.#state;
  }

  /** The subscriber connection, for operators (and tests) to identify it. */
  get connectionName(): string {
    return `fairmind-cache-bus:${this.#settings.instanceId}`;
  }

  #subscribe(): void {
    this.#subscriber.subscribe(this.#settings.channel).then(
      () => {
        if (this.#closed) return;
        this.#state = 'subscribed';
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
    this.#subscriber.disconnect();
  }
}
