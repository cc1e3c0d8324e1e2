import { checkOption, durationMsRule, wholeNumberRule } from '@fairmind/core';
import { LRUCache } from 'lru-cache';
import { OPTIONS } from '../errors/options.js';
import type { RevocationQuery, RevocationReason } from '../revocation/index.js';

/** The `local` option of `createRedisRevocationStore`. */
export interface LocalRevocationOptions {
  /**
   * How long a revocation made on another instance may go unseen here, in ms. Answers are
   * trusted while the revocation counter was read within this long; it is read again, in
   * the background, once half of it has passed.
   * @default 100
   */
  staleMs?: number | undefined;
  /**
   * Tokens whose answers are kept (least recently used first out).
   * @default 10000
   */
  maxTokens?: number | undefined;
  /**
   * The longest any answer is kept, in ms, whatever the counter says: the bound on how long a
   * revocation whose counter raise failed (Redis lost in between) can go unseen elsewhere.
   * At least `staleMs`.
   * @default 1000
   */
  maxAgeMs?: number | undefined;
}

/** A token's answer as kept: `null` (not revoked) cannot be an LRU value. */
type Kept = RevocationReason | 'none';

/** The revocation counter and the epoch, as one MGET reads them. */
export type Watermark = readonly [version: string | null, epoch: string | null];

/**
 * Revocation answers kept in this process, so that a token presented again costs no round
 * trip. Written by hand: what makes them safe to keep is the store's own revocation counter.
 * Every revocation sets the counter to a new value after writing; this instance reads the
 * counter (with the epoch, which changes when Redis loses its data) every `staleMs / 2` while
 * checks come, drops every answer when either changed, and stops trusting them when it could
 * not read them for `staleMs`. A revocation made here drops them at once, and no answer is
 * kept longer than `maxAgeMs`, the bound when a counter raise is lost.
 */
export class LocalAnswers {
  readonly #staleMs: number;
  readonly #answers: LRUCache<string, Kept>;
  readonly #read: () => Promise<Watermark>;
  /** The counter and epoch the kept answers hold under; `undefined` until first read. */
  #watermark: string | undefined;
  /** The epoch of that watermark: an answer decided under another epoch is not kept. */
  #epoch: number | undefined;
  /** When the last read that found the watermark unchanged started (performance.now()). */
  #confirmedAt = Number.NEGATIVE_INFINITY;
  #reading = false;
  /** Raised on every drop: an answer asked for before it is not kept after it. */
  #generation = 0;

  constructor(options: LocalRevocationOptions, read: () => Promise<Watermark>) {
    const name = (option: string) => `createRedisRevocationStore local.${option}`;
    this.#staleMs = checkOption(
      OPTIONS,
      name('staleMs'),
      options.staleMs ?? 100,
      durationMsRule({ max: 60_000, unit: ' of ms' }),
    );
    const maxAgeMs = checkOption(
      OPTIONS,
      name('maxAgeMs'),
      options.maxAgeMs ?? 1000,
      durationMsRule({ min: this.#staleMs, max: 3_600_000, unit: ' of ms' }),
    );
    const maxTokens = checkOption(
      OPTIONS,
      name('maxTokens'),
      options.maxTokens ?? 10_000,
      wholeNumberRule({ min: 1 }),
    );
    this.#answers = new LRUCache<string, Kept>({ max: maxTokens, ttl: maxAgeMs });
    this.#read = read;
  }

  /**
   * The key of a query's answer: every claim the answer depends on, each string but the last
   * behind its length so that no two queries share a key.
   */
  static key(query: RevocationQuery): string {
    const { sub, jti, fam = '', iat } = query;
    return `${sub.length}:${sub}${jti.length}:${jti}${fam}|${iat}`;
  }

  /** The answer kept for `key`, or `undefined` when the store must be asked. */
  get(key: string): RevocationReason | null | undefined {
    const age = performance.now() - this.#confirmedAt;
    if (age >= this.#staleMs / 2) this.#refresh();
    if (age >= this.#staleMs) return undefined;
    const kept = this.#answers.get(key);
    return kept === 'none' ? null : kept;
  }

  /** Taken before asking the store; {@link set} keeps the answer only if nothing was dropped since. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Keeps the store's answer for `key`, asked at `generation` and decided under `epoch`,
   * unless an answer was dropped since or the epoch is not the watermark's (Redis lost its
   * data and the answer came from the list before).
   */
  set(
    key: string,
    reason: RevocationReason | null,
    asked: { generation: number; epoch: number },
  ): void {
    if (asked.generation !== this.#generation || asked.epoch !== this.#epoch) return;
    this.#answers.set(key, reason ?? 'none');
  }

  /**
   * Resolves `staleMs` after it is called: by then no instance trusts an answer unless a
   * read of the counter began after this call, so a revocation whose counter changed
   * before it is refused everywhere once this resolves.
   */
  outlived(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, this.#staleMs));
  }

  /** Drops every answer: a revocation was made here, or the watermark moved. */
  drop(): void {
    this.#answers.clear();
    this.#generation++;
  }

  #refresh(): void {
    if (this.#reading) return;
    this.#reading = true;
    const startedAt = performance.now();
    this.#read().then(
      ([version, epoch]) => {
        this.#reading = false;
        // No epoch: Redis lost its data and no check has begun a new list yet.
        const watermark = epoch === null ? undefined : `${version ?? ''}:${epoch}`;
        if (watermark !== this.#watermark) {
          this.drop();
          this.#watermark = watermark;
          this.#epoch = epoch === null ? undefined : Number(epoch);
        }
        if (watermark !== undefined) this.#confirmedAt = startedAt;
      },
      () => {
        // Unread, the answers age out of trust on their own after staleMs.
        this.#reading = false;
      },
    );
  }
}
