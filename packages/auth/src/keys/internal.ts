import type { KeyObject } from 'node:crypto';
import type { KeyRing } from './index.js';

/**
 * The HMAC secrets of the rings createKeyRing built, as node:crypto KeyObjects, for the
 * verifier's synchronous MAC check. Kept here, keyed by the ring object itself and not
 * exported from the package, so that only a genuine ring takes that path: a wrapper such as
 * `{ ...ring, find }` (to retire a kid, say) is another object and is verified by jose through
 * its own `find`, never with a secret its `find` no longer returns.
 */
/** An HMAC key for node:crypto: the secret and node's name of its hash (`sha256`, ...). */
export interface HmacKey {
  readonly secret: KeyObject;
  readonly hash: string;
}

type HmacLookup = (algorithm: string, kid: string | undefined) => HmacKey | undefined;

const lookups = new WeakMap<KeyRing, HmacLookup>();

export function registerHmacSecrets(ring: KeyRing, lookup: HmacLookup): void {
  lookups.set(ring, lookup);
}

/** The HS* key `ring.find(algorithm, kid)` returns, for a genuine ring only. */
export function hmacKeyOf(
  ring: KeyRing,
  algorithm: string,
  kid: string | undefined,
): HmacKey | undefined {
  return lookups.get(ring)?.(algorithm, kid);
}

/** A key option as error messages name it: `field` of the key at `index`, or the key itself. */
export type KeyOptionName = (
  index: number,
  field?: 'algorithm' | 'kid' | 'secret' | 'privateKey' | 'publicKey',
) => string;

/**
 * How createKeyRing names the options of a ring in its errors, when the ring is not what the
 * user wrote: createAuth builds a one-key ring from `secret` (JWT_SECRET), and an error about
 * `keys[0].secret` would send the user looking for a `keys` they never gave. Keyed by the
 * options object, and not exported from the package.
 */
export const keyOptionNames = new WeakMap<object, KeyOptionName>();
