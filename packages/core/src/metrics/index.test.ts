import { Counter } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { counter, counterIncrement, createMetricsRegistry, gauge, histogram } from './index.js';

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
  it('adds counterIncrement calls to their series whenever the counter is read', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const requests = counter(registry, {
      name: 'app_requests_total',
      help: 'Requests.',
      labelNames: ['route'],
    });
    const home = counterIncrement(requests, { route: '/' });
    // A second user of the same series (two instances of a package on one registry).
    const homeAgain = counterIncrement(requests, { route: '/' });
    const about = counterIncrement(requests, { route: '/about' });
    for (let index = 0; index < 5; index++) home();
    homeAgain();
    about();
    requests.inc({ route: '/about' }, 10);
    const text = await registry.metrics();
    expect(text).toContain('app_requests_total{route="/"} 6');
    expect(text).toContain('app_requests_total{route="/about"} 11');
    // Nothing counted twice: the pending counts were handed over.
    home();
    const values = (await requests.get()).values;
    expect(values.find((value) => value.labels['route'] === '/')?.value).toBe(7);
    expect(values.find((value) => value.labels['route'] === '/about')?.value).toBe(11);
  });

  it("keeps a counter's own collect hook", async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    let collected = 0;
    const own = new Counter({
      name: 'app_jobs_total',
      help: 'Jobs.',
      registers: [registry],
      collect() {
        collected++;
      },
    });
    const job = counterIncrement(own, {});
    job();
    job();
    expect(await registry.metrics()).toContain('app_jobs_total 2');
    expect(collected).toBe(1);
  });
});
