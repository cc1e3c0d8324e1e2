import { randomBytes } from 'node:crypto';

// The key's shape, fm_<label>_<id>_<secret><checksum>: what is generated, parsed and checked.
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ID_LENGTH = 16;
/** Characters of a key's secret: 190 random bits. */
export const SECRET_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const MAX_KEY_LENGTH = 128;
const KEY_PATTERN = new RegExp(
  `^fm_([a-z0-9]{1,16})_([0-9A-Za-z]{${ID_LENGTH}})_([0-9A-Za-z]{${SECRET_LENGTH}})([0-9A-Za-z]{${CHECKSUM_LENGTH}})$`,
);

/** `length` base62 characters from the CSPRNG, without modulo bias. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 * 62: bytes above it would favour the first characters.
      if (byte < 248) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

// CRC-32 (IEEE), written out because zlib.crc32 arrived only in Node 20.15 and 22.2.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let index = 0; index < text.length; index++) {
    crc = (CRC_TABLE[(crc ^ text.charCodeAt(index)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** The checksum of a key body: CRC-32 in six base62 characters (62^6 > 2^32). */
export function apiKeyChecksum(body: string): string {
  let value = crc32(body);
  let out = '';
  for (let index = 0; index < CHECKSUM_LENGTH; index++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** The parts of a well-formed key whose checksum matches, or `undefined`. */
export function parseApiKey(
  key: unknown,
): { prefix: string; id: string; secret: string } | undefined {
  if (typeof key !== 'string' || key.length > MAX_KEY_LENGTH) return undefined;
  const match = KEY_PATTERN.exec(key);
  if (!match) return undefined;
  const [, label = '', id = '', secret = '', checksum = ''] = match;
  // A typo is caught here, without a store lookup.
  if (apiKeyChecksum(key.slice(0, -CHECKSUM_LENGTH)) !== checksum) return undefined;
  return { prefix: `fm_${label}_${id}`, id, secret };
}

/** A fresh key under `label`: the whole key, shown once, and its parts. */
export function generateApiKey(label: string): {
  key: string;
  prefix: string;
  id: string;
  secret: string;
} {
  const id = randomBase62(ID_LENGTH);
  const secret = randomBase62(SECRET_LENGTH);
  const body = `fm_${label}_${id}_${secret}`;
  return { key: body + apiKeyChecksum(body), prefix: `fm_${label}_${id}`, id, secret };
}
