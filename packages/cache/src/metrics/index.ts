import { counter, gauge } from '@fairmind/core/metrics';
import type { Registry } from 'prom-client';

/** Counters a cache keeps for {@link Cache.stats} and its metrics. */
export interface CacheCounters {
  l1Hits: number;
  l1Misses: number;
  l2Hits: number;
  l2Misses: number;
  /** Stale values served (grace or soft timeout). */
  staleHits: number;
  factoryRuns: number;
  factoryErrors: number;
  /** Milliseconds the factories ran, all runs together. */
  factoryMs: number;
  /** Calls that found a load of their key already running and waited for it. */
  coalesced: number;
  /** Redis commands that failed or timed out, and undecodable entries. */
  errors: number;
  busSent: number;
  busReceived: number;
  /** L1 flushes after the bus came back. */
  l1Flushes: number;
}

export function newCounters(): CacheCounters {
  return {
    l1Hits: 0,
    l1Misses: 0,
    l2Hits: 0,
    l2Misses: 0,
    staleHits: 0,
    factoryRuns: 0,
    factoryErrors: 0,
    factoryMs: 0,
    coalesced: 0,
    errors: 0,
    busSent: 0,
    busReceived: 0,
    l1Flushes: 0,
  };
}

/** What the metrics read from one cache at scrape time. */
export interface MetricsSource {
  readonly counters: CacheCounters;
  degraded(): boolean;
  l1(): { entries: number; bytes: number };
}

type Sources = Map<string, Set<MetricsSource>>;

// Caches per registry, read at scrape time: counting in plain fields keeps prom-client's
// label hashing (about a microsecond) off every cache hit.
const registered = new WeakMap<Registry, Sources>();

/** One metric: how to read each of its series from one cache. */
interface Spec {
  readonly name: string;
  readonly help: string;
  readonly kind: 'counter' | 'gauge';
  /** The extra label, if any, and one reader per value of it. */
  readonly label?: string;
  readonly series: Readonly<Record<string, (source: MetricsSource) => number>>;
  /** How series of several caches with one name combine. */
  readonly combine?: 'sum' | 'max';
}

const SPECS: readonly Spec[] = [
  {
    name: 'fairmind_cache_hits_total',
    help: 'Cache hits by tier (l1: in-process, l2: Redis).',
    kind: 'counter',
    label: 'tier',
    series: { l1: (s) => s.counters.l1Hits, l2: (s) => s.counters.l2Hits },
  },
  {
    name: 'fairmind_cache_misses_total',
    help: 'Cache misses by tier (an L1 miss that L2 answers is an l1 miss and an l2 hit).',
    kind: 'counter',
    label: 'tier',
    series: { l1: (s) => s.counters.l1Misses, l2: (s) => s.counters.l2Misses },
  },
  {
    name: 'fairmind_cache_stale_hits_total',
    help: 'Stale values served because the factory failed, was slow, or Redis was away.',
    kind: 'counter',
    series: { '': (s) => s.counters.staleHits },
  },
  {
    name: 'fairmind_cache_factory_runs_total',
    help: 'Factory runs by outcome.',
    kind: 'counter',
    label: 'outcome',
    series: {
      ok: (s) => s.counters.factoryRuns - s.counters.factoryErrors,
      error: (s) => s.counters.factoryErrors,
    },
  },
  {
    name: 'fairmind_cache_factory_seconds_total',
    help: 'Seconds the factories ran, all runs together: over fairmind_cache_factory_runs_total, the mean load time, the time a hot key stays a miss after each invalidation.',
    kind: 'counter',
    series: { '': (s) => s.counters.factoryMs / 1000 },
  },
  {
    name: 'fairmind_cache_coalesced_total',
    help: 'Reads that missed and waited for a load of their key already running (single-flight), neither a hit nor a factory run.',
    kind: 'counter',
    series: { '': (s) => s.counters.coalesced },
  },
  {
    name: 'fairmind_cache_errors_total',
    help: 'Redis commands that failed or timed out, and entries that could not be decoded.',
    kind: 'counter',
    series: { '': (s) => s.counters.errors },
  },
  {
    name: 'fairmind_cache_bus_messages_total',
    help: 'Invalidation bus messages sent and received (own messages are not counted as received).',
    kind: 'counter',
    label: 'direction',
    series: { sent: (s) => s.counters.busSent, received: (s) => s.counters.busReceived },
  },
  {
    name: 'fairmind_cache_degraded',
    help: '1 while Redis is configured but unusable (down, or the circuit is open), else 0.',
    kind: 'gauge',
    series: { '': (s) => (s.degraded() ? 1 : 0) },
    combine: 'max',
  },
  {
    name: 'fairmind_cache_l1_entries',
    help: 'Entries in the in-process tier.',
    kind: 'gauge',
    series: { '': (s) => s.l1().entries },
  },
  {
    name: 'fairmind_cache_l1_bytes',
    help: 'Approximate bytes held by the in-process tier.',
    kind: 'gauge',
    series: { '': (s) => s.l1().bytes },
  },
];

function define(registry: Registry, all: Sources, spec: Spec): void {
  const labelNames = spec.label === undefined ? ['cache'] : ['cache', spec.label];
  const collect = function (this: { reset(): void; inc(labels: object, value: number): void }) {
    this.reset();
    for (const [cache, set] of all) {
      for (const [value, read] of Object.entries(spec.series)) {
        let total = 0;
        for (const source of set) {
          total = spec.combine === 'max' ? Math.max(total, read(source)) : total + read(source);
        }
        this.inc(spec.label === undefined ? { cache } : { cache, [spec.label]: value }, total);
      }
    }
  };
  const config = { name: spec.name, help: spec.help, labelNames, collect };
  if (spec.kind === 'counter') counter(registry, config);
  else gauge(registry, config);
}

/**
 * Registers a cache's metrics in `registry` under the `cache` label `name`:
 * `fairmind_cache_hits_total{tier}`, `fairmind_cache_misses_total{tier}`,
 * `fairmind_cache_stale_hits_total`, `fairmind_cache_factory_runs_total{outcome}`,
 * `fairmind_cache_coalesced_total`,
 * `fairmind_cache_errors_total`, `fairmind_cache_bus_messages_total{direction}`,
 * `fairmind_cache_degraded` and `fairmind_cache_l1_entries` / `fairmind_cache_l1_bytes`.
 * Returns the function that unregisters it.
 */
export function registerMetrics(
  registry: Registry,
  name: string,
  source: MetricsSource,
): () => void {
  let sources = registered.get(registry);
  if (!sources) {
    const all: Sources = new Map();
    sources = all;
    registered.set(registry, all);
    for (const spec of SPECS) define(registry, all, spec);
  }
  let set = sources.get(name);
  if (!set) {
    set = new Set();
    sources.set(name, set);
  }
  set.add(source);
  const all = sources;
  return () => {
    const current = all.get(name);
    current?.delete(source);
    if (current?.size === 0) all.delete(name);
  };
}
