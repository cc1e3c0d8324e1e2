import type { Redis } from 'ioredis';

/**
 * Deletes the keys a benchmark wrote under `prefix`, with SCAN and UNLINK so a large run does
 * not block the server. Bounded: 100,000 rounds of 1,000 is far past any bench's keys.
 */
export async function deleteByPrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  for (let round = 0; round < 100_000; round++) {
    const [after, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    if (keys.length > 0) await client.unlink(...keys);
    cursor = after;
    if (cursor === '0') break;
  }
}
