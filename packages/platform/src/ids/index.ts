import { randomFillSync } from 'node:crypto';

let lastMs = 0;
let sequence = 0;
const random = new Uint8Array(16);

/**
 * A UUID version 7 (RFC 9562): a millisecond timestamp, then a 12-bit counter that makes ids
 * made in one millisecond by this process sort in creation order (the RFC's method 1), then
 * random bits. Lists sort by (created_at, id), so within one millisecond the newest row still
 * comes first. Node 20 has no `randomUUIDv7`; this is the few lines it would be.
 */
export function uuidv7(now: number = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    sequence = 0;
  } else {
    sequence++;
    // 4,096 ids in one millisecond: borrow the next millisecond rather than lose the order.
    if (sequence > 0xfff) {
      lastMs++;
      sequence = 0;
    }
  }
  randomFillSync(random);
  const bytes = random;
  const ms = lastMs;
  bytes[0] = Math.floor(ms / 2 ** 40) & 0xff;
  bytes[1] = Math.floor(ms / 2 ** 32) & 0xff;
  bytes[2] = (ms >>> 24) & 0xff;
  bytes[3] = (ms >>> 16) & 0xff;
  bytes[4] = (ms >>> 8) & 0xff;
  bytes[5] = ms & 0xff;
  bytes[6] = 0x70 | ((sequence >>> 8) & 0x0f);
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
