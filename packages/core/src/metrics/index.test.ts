import { describe, expect, it } from 'vitest';
import { counter, createMetricsRegistry, gauge, histogram } from './index.js';

describe('metrics', () => {
  it('gives each registry its own series', async () => {
    const a = createMetricsRegistry({ defaultMetrics: false });
    const b = createMetricsRegistry({ defaultMetrics: false });
    counter(a, { name: 'fm_test_total', help: 'test' }).inc();
    expect(await a.metrics()).toContain('fm_test_total 1');
    expect(await b.metrics()).not.toContain('fm_test_total');
  });

  it('shares a metric between two users of one registry', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false, labels: { service: 'api' } });
    const one = counter(registry, { name: 'fm_hits_total', help: 'hits', labelNames: ['tier'] });
    const two = counter(registry, { name: 'fm_hits_total', help: 'hits', labelNames: ['tier'] });
    expect(one).toBe(two);
    one.inc({ tier: 'l1' });
    two.inc({ tier: 'l1' });
    gauge(registry, { name: 'fm_up', help: 'up' }).set(1);
    histogram(registry, { name: 'fm_seconds', help: 's', buckets: [0.1, 1] }).observe(0.5);
    const text = await registry.metrics();
    expect(text).toContain('fm_hits_total{tier="l1",service="api"} 2');
    expect(text).toContain('fm_seconds_bucket{le="1",service="api"} 1');
  });

  it('collects process metrics by default', async () => {
    const registry = createMetricsRegistry();
    expect(await registry.metrics()).toContain('process_cpu_user_seconds_total');
  });
});
