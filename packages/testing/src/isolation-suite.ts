import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { serviceUrls } from './context.js';
import { useTestDatabase, useTestRedis } from './hooks.js';
import { sleep, testingError } from './util.js';

// Generous: the other file starts when a worker frees up, and the end-to-end files of the
// examples can hold every other worker for a minute or more. Still bounded.
const RENDEZVOUS_TIMEOUT_MS = 180_000;
const LABELS = ['a', 'b'] as const;
type Label = (typeof LABELS)[number];

interface Member {
  label: Label;
  database: string;
  prefix: string;
}

/**
 * Shared body of isolation-a.test.ts and isolation-b.test.ts. Both files use the same table
 * name and the same key; each writes its own marker, then waits until the other file has
 * written too (an un-prefixed Redis set is the meeting point), so the assertions run while
 * both files' data exists at the same time.
 */
export function isolationSuite(label: Label): void {
  const db = useTestDatabase();
  const redis = useTestRedis();
  let sql: pg.Client;
  let kv: Redis;
  let rendezvousKey: string;

  beforeAll(async () => {
    rendezvousKey = `isolation:${serviceUrls().runId}`;
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    kv = new Redis(redis.url, { lazyConnect: true });
    await kv.connect();
  });

  afterAll(async () => {
    // The file that finishes last removes the meeting point; the first must leave its entry
    // there, or the other might never see it.
    if (kv && rendezvousKey) {
      const doneKey = `${rendezvousKey}:done`;
      const results = await kv.multi().sadd(doneKey, label).scard(doneKey).exec();
      if (results?.[1]?.[1] === LABELS.length) await kv.del(rendezvousKey, doneKey);
      kv.disconnect();
    }
    await sql?.end();
  });

  it(
    `file ${label} sees only its own rows and key while the other file runs`,
    async () => {
      const mine = [1, 2, 3].map((n) => `${label}-${n}`);
      await sql.query('CREATE TABLE items (id serial PRIMARY KEY, marker text NOT NULL)');
      for (const marker of mine)
        await sql.query('INSERT INTO items (marker) VALUES ($1)', [marker]);
      const value = `${label}:${db.name}`;
      await kv.set(`${redis.prefix}shared-key`, value);

      const self: Member = { label, database: db.name, prefix: redis.prefix };
      await kv.sadd(rendezvousKey, JSON.stringify(self));
      // Backstop if a file crashes before its afterAll: the key disappears on its own, but
      // only after the other file's wait is over. (It was 120 s against a 180 s wait: a file
      // that came 2 minutes late found the first one's entry expired, and both failed.)
      await kv.expire(rendezvousKey, Math.ceil(RENDEZVOUS_TIMEOUT_MS / 1000) + 60);
      const members = await waitForBoth(kv, rendezvousKey);

      const { rows } = await sql.query<{ marker: string }>('SELECT marker FROM items ORDER BY id');
      expect(rows.map((row) => row.marker)).toEqual(mine);
      expect(await kv.get(`${redis.prefix}shared-key`)).toBe(value);

      const other = members.find((member) => member.label !== label);
      expect(other).toBeDefined();
      expect(other?.database).not.toBe(db.name);
      expect(other?.prefix).not.toBe(redis.prefix);
      expect(db.name).toMatch(/^fm_t_/);
      expect(redis.prefix).toMatch(/^t:[0-9a-f]+:[0-9a-f]+:$/);
    },
    RENDEZVOUS_TIMEOUT_MS + 10_000,
  );
}

async function waitForBoth(kv: Redis, key: string): Promise<Member[]> {
  const deadline = Date.now() + RENDEZVOUS_TIMEOUT_MS;
  for (;;) {
    const members = (await kv.smembers(key)).map((raw) => JSON.parse(raw) as Member);
    if (LABELS.every((label) => members.some((member) => member.label === label))) return members;
    if (Date.now() > deadline) {
      throw testingError(
        `the other isolation file did not reach ${key} within ` +
          `${RENDEZVOUS_TIMEOUT_MS} ms. The two files must run at the same time: give vitest ` +
          'at least two workers (e.g. --maxWorkers=2 or poolOptions.forks.maxForks in the root config).',
      );
    }
    await sleep(50);
  }
}
