import {
  Counter,
  type CounterConfiguration,
  collectDefaultMetrics,
  Gauge,
  type GaugeConfiguration,
  Histogram,
  type HistogramConfiguration,
  Registry,
} from 'prom-client';

/** Options of {@link createMetricsRegistry}. */
export interface CreateMetricsRegistryOptions {
  /**
   * Also collect prom-client's process and Node.js metrics (event loop lag, heap, GC).
   * @default true
   */
  defaultMetrics?: boolean | undefined;
  /**
   * Labels added to every series, such as `{ service: 'api' }`.
   * @default {}
   */
  labels?: Readonly<Record<string, string>> | undefined;
}

/**
 * A fresh prom-client `Registry`: never the global one, so two apps (or two tests) in one
 * process keep separate metrics. Pass it to every package and serve it at `/metrics`.
 *
 * @example
 * ```ts
 * import { createMetricsRegistry } from '@fairmind/core/metrics';
 * const registry = createMetricsRegistry();
 * const text = await registry.metrics(); // Prometheus exposition format
 * ```
 */
export function createMetricsRegistry(options: CreateMetricsRegistryOptions = {}): Registry {
  const registry = new Registry();
  if (options.labels) registry.setDefaultLabels({ ...options.labels });
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * The counter called `config.name` in `registry`, created on first use. Two instances of a
 * package sharing one registry then share the series instead of failing with prom-client's
 * "already registered" error.
 */
export function counter<T extends string>(
  registry: Registry,
  config: CounterConfiguration<T>,
): Counter<T> {
  const existing = registry.getSingleMetric(config.name);
  if (existing instanceof Counter) return existing as Counter<T>;
  return new Counter({ ...config, registers: [registry] });
}

/** Like {@link counter}, for a gauge. */
export function gauge<T extends string>(
  registry: Registry,
  config: GaugeConfiguration<T>,
): Gauge<T> {
  const existing = registry.getSingleMetric(config.name);
  if (existing instanceof Gauge) return existing as Gauge<T>;
  return new Gauge({ ...config, registers: [registry] });
}

/** Like {@link counter}, for a histogram. */
export function histogram<T extends string>(
  registry: Registry,
  config: HistogramConfiguration<T>,
): Histogram<T> {
  const existing = registry.getSingleMetric(config.name);
  if (existing instanceof Histogram) return existing as Histogram<T>;
  return new Histogram({ ...config, registers: [registry] });
}

export { Registry };
