import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { randomBase62, SECRET_LENGTH } from './format.js';

/** How key secrets are stored and compared: never the secret, only its hash. */
export interface SecretHasher {
  /** Hex SHA-256 of the secret, or HMAC-SHA-256 with the pepper. */
  hash(secret: string): string;
  /**
   * Whether the secret hashes to `stored`, in constant time. With no stored hash (an unknown
   * id) it still hashes and compares, and answers `false`.
   */
  matches(secret: string, stored: string | undefined): boolean;
}

/** The hasher of a manager; `pepper` was checked by the caller. */
export function createSecretHasher(pepper: string | Uint8Array | undefined): SecretHasher {
  const hash = (secret: string): string =>
    pepper === undefined
      ? createHash('sha256').update(secret).digest('hex')
      : createHmac('sha256', pepper).update(secret).digest('hex');
  // Compared against when the id is unknown, so that path does the same work.
  const dummyHash = hash(randomBase62(SECRET_LENGTH));

  return {
    hash,
    matches(secret, stored) {
      const given = Buffer.from(hash(secret), 'hex');
      const expected = Buffer.from(
        stored !== undefined && /^[0-9a-f]{64}$/.test(stored) ? stored : dummyHash,
        'hex',
      );
      return timingSafeEqual(given, expected) && stored !== undefined;
    },
  };
}
