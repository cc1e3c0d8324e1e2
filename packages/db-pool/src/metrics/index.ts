import { counter, gauge, histogram } from '@fairmind/core/metrics';
import type { Registry } from 'prom-client';
import type { Driver } from '../database/index.js';

/** The metric hooks both drivers call; one set of names whatever the driver. */
export interface PoolMetrics {
  onAcquire(waitMs: number): void;
  onRelease(heldMs: number): void;
  onTimeout(): void;
  onError(kind: string): void;
  /** Registers the counts that `fairmind_db_pool_connections` reads at scrape time. */
  track(snapshot: () => { idle: number; active: number; waiting: number; total: number }): void;
}

type Snapshot = () => { idle: number; active: number; waiting: number; total: number };

// Pools per registry, so one gauge reports every pool that registered with it, read at
// scrape time rather than updated on every acquire.
const tracked = new WeakMap<Registry, Map<string, { driver: Driver; read: Snapshot }>>();

/**
 * The pool metrics in `registry`, labelled with this pool's `name` and `driver`:
 * `fairmind_db_pool_connections{state}`, `fairmind_db_pool_acquire_seconds`,
 * `fairmind_db_pool_held_seconds`, `fairmind_db_pool_timeouts_total` and
 * `fairmind_db_pool_errors_total{kind}`.
 */
export function poolMetrics(registry: Registry, name: string, driver: Driver): PoolMetrics {
  const acquire = histogram(registry, {
    name: 'fairmind_db_pool_acquire_seconds',
    help: 'Time spent waiting for a database connection.',
    labelNames: ['pool', 'driver'],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
  });
  const held = histogram(registry, {
    name: 'fairmind_db_pool_held_seconds',
    help: 'Time a database connection was held before release.',
    labelNames: ['pool', 'driver'],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
  });
  const timeouts = counter(registry, {
    name: 'fairmind_db_pool_timeouts_total',
    help: 'Connection acquires that timed out.',
    labelNames: ['pool', 'driver'],
  });
  const errors = counter(registry, {
    name: 'fairmind_db_pool_errors_total',
    help: 'Connection and statement errors, by kind.',
    labelNames: ['pool', 'driver', 'kind'],
  });
  let pools = tracked.get(registry);
  if (!pools) {
    const map = new Map<string, { driver: Driver; read: Snapshot }>();
    pools = map;
    tracked.set(registry, map);
    gauge(registry, {
      name: 'fairmind_db_pool_connections',
      help: 'Database connections by state (waiting counts callers in the queue).',
      labelNames: ['pool', 'driver', 'state'],
      collect() {
        for (const [pool, entry] of map) {
          const counts = entry.read();
          for (const state of ['idle', 'active', 'waiting', 'total'] as const) {
            this.set({ pool, driver: entry.driver, state }, counts[state]);
          }
        }
      },
    });
  }
  const registered = pools;
  const labels = { pool: name, driver };
  return {
    onAcquire: (waitMs) => acquire.observe(labels, waitMs / 1000),
    onRelease: (heldMs) => held.observe(labels, heldMs / 1000),
    onTimeout: () => timeouts.inc(labels),
    onError: (kind) => errors.inc({ ...labels, kind }),
    track(snapshot) {
      registered.set(name, { driver, read: snapshot });
    },
  };
}
