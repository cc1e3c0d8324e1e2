import type { KeyObject, webcrypto } from 'node:crypto';
import { SUPPORTED_JWT_ALGORITHMS, type SupportedJwtAlgorithm } from '@fairmind/core/rules';
import { invalid } from '../errors/index.js';
import { type Entry, importKeys } from './entries.js';
import { registerHmacSecrets } from './internal.js';

// The list and the PEM test (./material.ts) are core's (@fairmind/core/rules), where
// loadConfig() reads them too for JWT_ALGORITHM and JWT_SECRET: core cannot import this
// package, so the rules live below both and are defined once.
/** The signing algorithms of the toolkit, the same list as `JWT_ALGORITHM` accepts. */
export const JWT_ALGORITHMS = SUPPORTED_JWT_ALGORITHMS;

/** One of {@link JWT_ALGORITHMS}. */
export type JwtAlgorithm = SupportedJwtAlgorithm;

/**
 * A JSON Web Key as RFC 7517 writes it (`kty`, `k`, `n`, `e`, `crv`, `x`, `y`, `d`, ...).
 * Our own type, not node:crypto's `JsonWebKey`: @types/node 25 moved that one into the
 * `webcrypto` namespace, and a declaration naming either breaks on the other's versions.
 */
export interface Jwk {
  kty: string;
  kid?: string | undefined;
  alg?: string | undefined;
  use?: string | undefined;
  key_ops?: string[] | undefined;
  crv?: string | undefined;
  x?: string | undefined;
  y?: string | undefined;
  d?: string | undefined;
  n?: string | undefined;
  e?: string | undefined;
  p?: string | undefined;
  q?: string | undefined;
  dp?: string | undefined;
  dq?: string | undefined;
  qi?: string | undefined;
  k?: string | undefined;
  [member: string]: unknown;
}

/** One key of the ring: what it is for and where it comes from. */
export interface KeyInput {
  /**
   * The key id written into the `kid` header of the tokens it signs and used to pick it when
   * verifying. Required when the ring holds more than one key.
   */
  kid?: string | undefined;
  /**
   * @default 'HS256'
   */
  algorithm?: JwtAlgorithm | undefined;
  /**
   * HS256/384/512: the shared secret, as text (at least 32 characters in production, never a
   * PEM), bytes, or an `oct` JWK.
   */
  secret?: string | Uint8Array | Jwk | undefined;
  /**
   * RS256/ES256/EdDSA: the private key that signs, as PEM (PKCS#8 `PRIVATE KEY`, PKCS#1
   * `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`) or a private JWK. Leave it out for a key that
   * only verifies (a retired key, or a service that never signs).
   */
  privateKey?: string | Jwk | undefined;
  /**
   * RS256/ES256/EdDSA: the public key that verifies, as SPKI PEM or a public JWK. Derived from
   * `privateKey` when left out.
   */
  publicKey?: string | Jwk | undefined;
}

/** Options of {@link createKeyRing}. */
export interface KeyRingOptions {
  /** The keys; the first that can sign signs, unless `signingKid` names another. */
  keys: readonly KeyInput[];
  /**
   * The `kid` of the key that signs new tokens; the others only verify (rotation: add the new
   * key, move `signingKid` to it, drop the old one once its tokens have expired).
   * @default the first key with a secret or private key
   */
  signingKid?: string | undefined;
  /**
   * Refuse HMAC secrets under 32 characters (RFC 7518 section 3.2 wants at least the hash's
   * size).
   * @default process.env.NODE_ENV === 'production'
   */
  production?: boolean | undefined;
}

/** A key ready for jose: a CryptoKey (HMAC, imported once) or a KeyObject (jose caches its conversion). */
export type VerificationKey = webcrypto.CryptoKey | KeyObject;

/**
 * Keys imported once, by `kid` and algorithm. Lookups never cross algorithms: a token whose
 * header says HS256 can only meet an HS256 key, which is what defeats algorithm confusion (an
 * RSA public key used as an HMAC secret).
 */
export interface KeyRing {
  /** The algorithms the ring can verify: the allowlist of the verifier. */
  readonly algorithms: readonly JwtAlgorithm[];
  /** Resolves once every key is imported (HMAC keys import asynchronously through WebCrypto). */
  ready(): Promise<void>;
  /** The key that verifies a token with this header, or `undefined`. */
  find(algorithm: string, kid: string | undefined): VerificationKey | undefined;
  /** The signing key, its algorithm and kid, or `undefined` for a verify-only ring. */
  signer(): { key: VerificationKey; algorithm: JwtAlgorithm; kid: string | undefined } | undefined;
}

/**
 * Imports a ring of JWT keys once: HMAC secrets become WebCrypto keys (so no verification
 * imports a key again), PEM and JWK keys become KeyObjects checked against their algorithm.
 * Every problem is an `INVALID_OPTIONS` error thrown here, naming the key.
 *
 * @example
 * ```ts
 * const ring = createKeyRing({
 *   keys: [
 *     { kid: '2026-11', algorithm: 'ES256', privateKey: process.env.JWT_KEY_NEW },
 *     { kid: '2026-05', algorithm: 'ES256', publicKey: process.env.JWT_KEY_OLD_PUBLIC },
 *   ],
 *   signingKid: '2026-11',
 * });
 * ```
 */
export function createKeyRing(options: KeyRingOptions): KeyRing {
  if (typeof options !== 'object' || options === null || !Array.isArray(options.keys)) {
    throw invalid('keys', 'must be an array of keys such as [{ algorithm: "HS256", secret }]');
  }
  if (options.keys.length === 0) throw invalid('keys', 'must hold at least one key');
  const production = options.production ?? process.env['NODE_ENV'] === 'production';
  const { entries, byKid, pending } = importKeys(options, production);
  const signing = signingEntry(options, entries);
  // Keys without a kid are found by algorithm alone; there is at most one (see importKeys).
  const anonymous = entries.find((entry) => entry.kid === undefined);
  const lookup = (algorithm: string, kid: string | undefined) => {
    const entry = kid === undefined ? anonymous : byKid.get(kid);
    return entry !== undefined && entry.algorithm === algorithm ? entry : undefined;
  };
  const all = Promise.all(pending).then(() => undefined);
  // An import failure surfaces from ready(); this keeps it from being an unhandled rejection.
  all.catch(() => {});

  const ring: KeyRing = {
    algorithms: [...new Set(entries.map((entry) => entry.algorithm))],
    ready: () => all,
    find: (algorithm, kid) => lookup(algorithm, kid)?.verify,
    signer() {
      if (signing?.sign === undefined) return undefined;
      return { key: signing.sign, algorithm: signing.algorithm, kid: signing.kid };
    },
  };
  registerHmacSecrets(ring, (algorithm, kid) => lookup(algorithm, kid)?.hmac);
  return ring;
}

/** The entry that signs: the one `signingKid` names, else the first that can; or none. */
function signingEntry(options: KeyRingOptions, entries: readonly Entry[]): Entry | undefined {
  const canSign = (input: KeyInput) => input.secret !== undefined || input.privateKey !== undefined;
  let signingIndex = -1;
  if (options.signingKid !== undefined) {
    signingIndex = options.keys.findIndex((input) => input.kid === options.signingKid);
    if (signingIndex === -1) throw invalid('signingKid', `names no key of the ring`);
    if (!canSign(options.keys[signingIndex] as KeyInput)) {
      throw invalid('signingKid', 'names a key without a secret or private key, which cannot sign');
    }
  } else {
    signingIndex = options.keys.findIndex(canSign);
  }
  return signingIndex === -1 ? undefined : (entries[signingIndex] as Entry);
}
