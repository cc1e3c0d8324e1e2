/**
 * @fairmind/cache beside the peers it replaces, in one process and one run:
 *   - L1 hit through getOrSet: @fairmind/cache vs bentocache's L1 (memory driver)
 *   - L2 hit: @fairmind/cache with L1 off vs raw ioredis GET + JSON.parse
 *   - a Zipf (s = 1) read workload over 10,000 keys with 5% writes: hit rates per tier
 *
 *   FAIRMIND_BENCH_REDIS_URL=redis://127.0.0.1:6379 pnpm --filter @fairmind/bench run cache
 *
 * Knobs: BENCH_SECONDS (per round, 3), BENCH_ROUNDS (5), BENCH_CONCURRENCY (16, L2 only; the
 * L1 loops are CPU-bound and run one caller), BENCH_ZIPF_OPS (200,000), BENCH_ONLY (one of
 * l1, l2, zipf: run that section alone).
 */
import { createCache } from '@fairmind/cache';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { Redis } from 'ioredis';
import {
  benchRedisUrl,
  type Contender,
  measure,
  numberFromEnv,
  report,
  sectionsFromEnv,
} from './lib/measure.js';
import { deleteByPrefix } from './lib/redis.js';

const url = benchRedisUrl;
const seconds = numberFromEnv('BENCH_SECONDS', 3);
const rounds = numberFromEnv('BENCH_ROUNDS', 5);
const concurrency = numberFromEnv('BENCH_CONCURRENCY', 16);
const zipfOps = numberFromEnv('BENCH_ZIPF_OPS', 200_000);
const run = Math.random().toString(36).slice(2, 8);
const namespace = `bench:${run}`;
const KEYS = 1_000;
const section = sectionsFromEnv(['l1', 'l2', 'zipf']);

// A typical API object: a model row with a few fields and a short list (about 300 bytes).
function model(id: number) {
  return {
    id: `model-${id}`,
    name: `Credit scoring ${id}`,
    version: '1.4.2',
    description: 'Gradient-boosted trees over bureau and application features.',
    riskLevel: id % 3 === 0 ? 'high' : 'medium',
    owner: 'risk-team@example.com',
    metrics: [0.91, 0.87, 0.78],
    createdAt: '2026-11-01T10:00:00.000Z',
    updatedAt: '2026-11-20T16:30:00.000Z',
  };
}
const keys = Array.from({ length: KEYS }, (_, index) => `model:${index}`);
let cursor = 0;
const nextKey = () => {
  cursor = (cursor + 1) % KEYS;
  return keys[cursor] as string;
};

console.log(
  `cache benchmark: node ${process.version}, ${rounds} rounds x ${seconds}s, L2 concurrency ${concurrency}, ${KEYS} keys`,
);

// ---- L1 hit ------------------------------------------------------------------------------

if (section('l1')) {
  const fairmindL1 = createCache({ ttl: '1h' });
  const bentoFast = new BentoCache({
    default: 'l1',
    stores: { l1: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000, serialize: false })) },
  });
  const bentoDefault = new BentoCache({
    default: 'l1',
    stores: { l1: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000 })) },
  });
  const complexL1 = createCache({ ttl: '1h' });
  for (const [index, key] of keys.entries()) {
    await fairmindL1.set(key, model(index));
    await complexL1.set(key, { ...model(index), updatedAt: new Date(0) });
    await bentoFast.set({ key, value: model(index), ttl: '1h' });
    await bentoDefault.set({ key, value: model(index), ttl: '1h' });
  }
  const missing = () => {
    throw new Error('the benchmark expects every key to be cached');
  };
  const l1: Contender[] = [
    { name: '@fairmind/cache getOrSet', run: () => fairmindL1.getOrSet(nextKey(), missing) },
    {
      name: '@fairmind/cache getOrSet, value with a Date (decoded copy)',
      run: () => complexL1.getOrSet(nextKey(), missing),
    },
    {
      name: 'bentocache getOrSet (memory, serialize: false)',
      run: () => bentoFast.getOrSet({ key: nextKey(), factory: missing }),
    },
    {
      name: 'bentocache getOrSet (memory, default)',
      run: () => bentoDefault.getOrSet({ key: nextKey(), factory: missing }),
    },
  ];
  const l1Results = await measure(l1, { seconds, rounds, concurrency: 1, warmupSeconds: 1 });
  report('L1 hit through getOrSet', l1Results, 'bentocache getOrSet (memory, default)');
  report('L1 hit through getOrSet', l1Results, 'bentocache getOrSet (memory, serialize: false)');
  await Promise.all([
    fairmindL1.close(),
    complexL1.close(),
    bentoFast.disconnectAll(),
    bentoDefault.disconnectAll(),
  ]);
}

// ---- L2 hit ------------------------------------------------------------------------------

const l2Only = createCache({
  redis: url,
  namespace,
  l1: false,
  ttl: '1h',
  commandTimeoutMs: 1_000,
});
await l2Only.ready();
const raw = new Redis(url);
// The cache's own client pipelines commands issued in the same tick; the same option on a
// raw client is shown too, so that the ratio is not read as the cache being faster than Redis.
const rawPipelined = new Redis(url, { enableAutoPipelining: true });
const rawPrefix = `${namespace}:raw:`;
await l2Only.setMany(keys.map((key, index) => ({ key, value: model(index) })));
const pipeline = raw.pipeline();
for (const [index, key] of keys.entries()) {
  pipeline.set(`${rawPrefix}${key}`, JSON.stringify(model(index)), 'EX', 3600);
}
await pipeline.exec();
const l2: Contender[] = [
  { name: '@fairmind/cache get (L1 off)', run: () => l2Only.get(nextKey()) },
  {
    name: 'ioredis GET + JSON.parse',
    async run() {
      const text = await raw.get(`${rawPrefix}${nextKey()}`);
      return text === null ? undefined : JSON.parse(text);
    },
  },
  {
    name: 'ioredis GET + JSON.parse (enableAutoPipelining)',
    async run() {
      const text = await rawPipelined.get(`${rawPrefix}${nextKey()}`);
      return text === null ? undefined : JSON.parse(text);
    },
  },
];
if (section('l2')) {
  report(
    `L2 hit (Redis over loopback, ${concurrency} concurrent callers)`,
    await measure(l2, { seconds, rounds, concurrency, warmupSeconds: 1 }),
    'ioredis GET + JSON.parse',
  );
}

// ---- Zipf workload -----------------------------------------------------------------------

const ZIPF_KEYS = 10_000;
// Deterministic draws: the same key sequence on every run (mulberry32).
function prng(seed: number) {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
const cdf = new Float64Array(ZIPF_KEYS);
let total = 0;
for (let rank = 1; rank <= ZIPF_KEYS; rank++) {
  total += 1 / rank;
  cdf[rank - 1] = total;
}
function zipf(random: () => number): number {
  const target = random() * total;
  let low = 0;
  let high = ZIPF_KEYS - 1;
  while (low < high) {
    const middle = (low + high) >> 1;
    if ((cdf[middle] as number) < target) low = middle + 1;
    else high = middle;
  }
  return low;
}

async function zipfRun(label: string, onWrite: 'write-through' | 'invalidate', l1Entries: number) {
  const cache = createCache({
    redis: url,
    namespace: `${namespace}:zipf:${onWrite}:${l1Entries}`,
    l1: { maxEntries: l1Entries },
    ttl: '1h',
    commandTimeoutMs: 1_000,
  });
  await cache.ready();
  const random = prng(42);
  let reads = 0;
  let writes = 0;
  let loads = 0;
  const version = new Uint32Array(ZIPF_KEYS);
  const started = performance.now();
  for (let op = 0; op < zipfOps; op++) {
    const id = zipf(random);
    const key = `k${id}`;
    if (random() < 0.05) {
      writes++;
      version[id] = (version[id] ?? 0) + 1;
      if (onWrite === 'write-through') await cache.set(key, { id, version: version[id] });
      else await cache.delete(key);
    } else {
      reads++;
      await cache.getOrSet(key, () => {
        loads++;
        return { id, version: version[id] };
      });
    }
  }
  const elapsed = (performance.now() - started) / 1000;
  const stats = cache.stats();
  console.log(
    `| ${label} | ${reads.toLocaleString('en-US')} | ${writes.toLocaleString('en-US')} | ${(
      (100 * (reads - loads)) / reads
    ).toFixed(1)}% | ${((100 * stats.hits.l1) / reads).toFixed(1)}% | ${(
      (100 * stats.hits.l2) / reads
    ).toFixed(1)}% | ${Math.round(zipfOps / elapsed).toLocaleString('en-US')} |`,
  );
  await cache.clear();
  await cache.close();
}

if (section('zipf')) {
  console.log(
    `\nZipf (s = 1) over ${ZIPF_KEYS.toLocaleString('en-US')} keys, ${zipfOps.toLocaleString('en-US')} operations, 5% writes, one caller, cold start (target: hit rate at least 90%)`,
  );
  console.log('| on write, L1 size | reads | writes | hit rate | L1 hits | L2 hits | ops/s |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  await zipfRun('set (write-through), L1 10,000', 'write-through', 10_000);
  await zipfRun('delete (invalidate), L1 10,000', 'invalidate', 10_000);
  await zipfRun('set (write-through), L1 1,000', 'write-through', 1_000);
}

await l2Only.clear();
await l2Only.close();
await deleteByPrefix(raw, rawPrefix);
raw.disconnect();
rawPipelined.disconnect();
