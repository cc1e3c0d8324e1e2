import { checkOption, type Logger, silentLogger, wholeNumberRule } from '@fairmind/core';
import { withDeadline } from '../deadline/index.js';
import { describe, invalid, PREFIX } from '../errors/index.js';
import { OPTIONS } from '../errors/options.js';
import {
  type DurableRevocationStore,
  isPromise,
  type RevocationQuery,
  type RevocationReason,
  type RevocationStore,
} from './index.js';

/** Options of {@link createLayeredRevocationStore}. */
export interface LayeredRevocationStoreOptions {
  /** The fast store every instance shares, usually `createRedisRevocationStore`. */
  fast: RevocationStore;
  /** Where revocations are kept for good, usually `createSqlRevocationStore(db)`. */
  durable: DurableRevocationStore;
  /**
   * How long a check waits for the fast store before asking the durable one, in ms: a frozen
   * Redis costs a request this much, not a 503. `0` sets no deadline here, for a fast store
   * that bounds its own calls (the Redis store's `timeoutMs`), saving a timer per check.
   * @default 250
   */
  fastTimeoutMs?: number | undefined;
  /**
   * How often the durable store's "unreplicated" mark is read again, in ms: a revocation
   * another instance could only write to the durable store is seen here within this long.
   * @default 1000
   */
  refreshMs?: number | undefined;
  /** Where the fast store's outages and recoveries go, once each. @default silentLogger */
  logger?: Logger | undefined;
  /** @default Date.now */
  now?: (() => number) | undefined;
}

/**
 * Revocations in two layers: a durable store (SQL) that holds every revocation for good, and
 * a fast one (Redis) that answers nearly every check. The fast store is only a shortcut, so a
 * Redis outage costs no request and loses no revocation:
 *
 * - a revocation is written to the durable store first (if that fails, the call fails), then
 *   to the fast one; when the fast write fails, the durable store is told so, with the time;
 * - a check asks the fast store, and the durable one when the fast store fails or is slower
 *   than `fastTimeoutMs`, answers `'reset'` (Redis lost its data since the token was issued),
 *   or the token was issued before a revocation that reached the durable store alone.
 *
 * @example
 * ```ts
 * const revocation = createLayeredRevocationStore({
 *   fast: createRedisRevocationStore({ client: redis, logger }),
 *   durable: createSqlRevocationStore(db),
 *   logger,
 * });
 * const auth = createAuth({ secret, revocation });
 * ```
 */
export function createLayeredRevocationStore(
  options: LayeredRevocationStoreOptions,
): RevocationStore {
  const { fast, durable } = options;
  if (typeof fast?.check !== 'function' || typeof durable?.markUnreplicated !== 'function') {
    throw invalid(
      'createLayeredRevocationStore',
      'needs { fast: a RevocationStore, durable: a DurableRevocationStore such as createSqlRevocationStore(db) }',
    );
  }
  const fastTimeoutMs = checkOption(
    OPTIONS,
    'createLayeredRevocationStore fastTimeoutMs',
    options.fastTimeoutMs ?? 250,
    wholeNumberRule({ min: 0, open: 'or more', unit: ' of ms' }),
  );
  const now = options.now ?? Date.now;
  const layers: Layers = {
    fast,
    durable,
    fastTimeoutMs,
    now,
    health: fastStoreHealth(options.logger ?? silentLogger),
    mark: unreplicatedMark({ durable, refreshMs: options.refreshMs ?? 1000, now }),
  };
  return {
    revokeToken: (jti, sub, expiresAt) =>
      write(layers, {
        what: 'revokeToken',
        toDurable: () => durable.revokeToken(jti, sub, expiresAt),
        toFast: () => fast.revokeToken(jti, sub, expiresAt),
      }),
    revokeFamily: (fam, sub, expiresAt) =>
      write(layers, {
        what: 'revokeFamily',
        toDurable: () => durable.revokeFamily(fam, sub, expiresAt),
        toFast: () => fast.revokeFamily(fam, sub, expiresAt),
      }),
    revokeSubject: (sub, notBefore, expiresAt) =>
      write(layers, {
        what: 'revokeSubject',
        toDurable: () => durable.revokeSubject(sub, notBefore, expiresAt),
        toFast: () => fast.revokeSubject(sub, notBefore, expiresAt),
      }),
    check: (query) => check(layers, query),
  };
}

/** What the writes and checks of one layered store share. */
interface Layers {
  readonly fast: RevocationStore;
  readonly durable: DurableRevocationStore;
  readonly fastTimeoutMs: number;
  readonly now: () => number;
  readonly health: FastStoreHealth;
  readonly mark: UnreplicatedMark;
}

/** One revocation, as each layer takes it. */
interface LayeredWrite {
  /** The method, for the log line. */
  readonly what: string;
  readonly toDurable: () => Promise<void>;
  readonly toFast: () => Promise<void>;
}

async function write(layers: Layers, { what, toDurable, toFast }: LayeredWrite): Promise<void> {
  await toDurable();
  try {
    await toFast();
    layers.health.answered();
  } catch (error) {
    layers.health.failed(error, what);
    const { now } = layers;
    const at = now();
    await layers.durable.markUnreplicated(at);
    layers.mark.raise(at);
  }
}

type Answer = RevocationReason | null | Promise<RevocationReason | null>;

// Synchronous when the mark is known and the fast store answers from memory (its `local`
// option): a token checked again then costs no promise here.
function check(layers: Layers, query: RevocationQuery): Answer {
  const before = layers.mark.read();
  if (typeof before !== 'number') return before.then((mark) => checkFast(layers, query, mark));
  return checkFast(layers, query, before);
}

function checkFast(layers: Layers, query: RevocationQuery, before: number): Answer {
  const { fast, fastTimeoutMs } = layers;
  let answer: ReturnType<RevocationStore['check']>;
  try {
    answer = fast.check(query);
  } catch (error) {
    return fastFailed(layers, query, error);
  }
  if (!isPromise(answer)) return settle(layers, query, before, answer);
  const bounded =
    fastTimeoutMs === 0 ? answer : withDeadline(answer, fastTimeoutMs, 'the fast revocation store');
  return bounded.then(
    (reason) => settle(layers, query, before, reason),
    (error: unknown) => fastFailed(layers, query, error),
  );
}

function fastFailed(layers: Layers, query: RevocationQuery, error: unknown): Answer {
  layers.health.failed(error, 'check');
  return layers.durable.check(query);
}

function settle(
  layers: Layers,
  query: RevocationQuery,
  before: number,
  reason: RevocationReason | null,
): Answer {
  layers.health.answered();
  if (reason !== null && reason !== 'reset') return reason;
  // iat is in whole seconds, at or before the real issue time: a token issued before the
  // mark has iat * 1000 below it.
  if (reason === 'reset' || query.iat * 1000 < before) return layers.durable.check(query);
  return null;
}

/** The fast store's health, for one log line per change rather than one per request. */
interface FastStoreHealth {
  failed(error: unknown, what: string): void;
  answered(): void;
}

function fastStoreHealth(logger: Logger): FastStoreHealth {
  let fastFailing = false;
  return {
    failed(error, what) {
      if (fastFailing) return;
      fastFailing = true;
      logger.warn(
        { error: describe(error) },
        `${PREFIX} the fast revocation store failed (${what}); checking and writing revocations in the durable store until it answers again`,
      );
    },
    answered() {
      if (!fastFailing) return;
      fastFailing = false;
      logger.info({}, `${PREFIX} the fast revocation store answers again`);
    },
  };
}

/**
 * The durable store's "unreplicated" mark (epoch ms), re-read in the background at most
 * once per refreshMs; the first check waits for it, since until then nothing is known.
 */
interface UnreplicatedMark {
  read(): number | Promise<number>;
  /** A revocation this instance could only write to the durable store, at `at`. */
  raise(at: number): void;
}

function unreplicatedMark(settings: {
  durable: DurableRevocationStore;
  refreshMs: number;
  now: () => number;
}): UnreplicatedMark {
  const { durable, refreshMs, now } = settings;
  let unreplicated = 0;
  let readAt = Number.NEGATIVE_INFINITY;
  let reading: Promise<number> | undefined;
  const readMark = (): Promise<number> => {
    reading ??= durable
      .unreplicatedBefore()
      .then(
        (value) => {
          unreplicated = value;
          readAt = now();
          return value;
        },
        // The durable store is away too: keep the last mark; the check itself will tell.
        () => unreplicated,
      )
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };
  return {
    read() {
      if (readAt === Number.NEGATIVE_INFINITY) return readMark();
      if (now() - readAt >= refreshMs) void readMark();
      return unreplicated;
    },
    raise(at) {
      unreplicated = Math.max(unreplicated, at);
    },
  };
}
