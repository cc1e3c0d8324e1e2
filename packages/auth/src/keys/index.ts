import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  type JsonWebKey,
  type KeyObject,
  webcrypto,
} from 'node:crypto';
import { checkOption, nonEmptyStringRule, oneOfRule, optionOrDefault } from '@fairmind/core';
import {
  looksLikePem,
  SUPPORTED_JWT_ALGORITHMS,
  type SupportedJwtAlgorithm,
} from '@fairmind/core/rules';
import { invalid } from '../errors/index.js';
import { OPTIONS } from '../errors/options.js';
import {
  type HmacKey,
  type KeyOptionName,
  keyOptionNames,
  registerHmacSecrets,
} from './internal.js';

// The list and the PEM test are core's (@fairmind/core/rules), where loadConfig() reads them
// too for JWT_ALGORITHM and JWT_SECRET: core cannot import this package, so the rules live
// below both and are defined once.
/** The signing algorithms of the toolkit, the same list as `JWT_ALGORITHM` accepts. */
export const JWT_ALGORITHMS = SUPPORTED_JWT_ALGORITHMS;

/** One of {@link JWT_ALGORITHMS}. */
export type JwtAlgorithm = SupportedJwtAlgorithm;

const ALGORITHM = oneOfRule(JWT_ALGORITHMS);

/** A JSON Web Key as RFC 7517 writes it (`kty`, `k`, `n`, `e`, `crv`, `x`, `y`, `d`, ...). */
export type Jwk = JsonWebKey & { kty: string; kid?: string | undefined; alg?: string | undefined };

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

interface Entry {
  readonly kid: string | undefined;
  readonly algorithm: JwtAlgorithm;
  verify: VerificationKey | undefined;
  sign: VerificationKey | undefined;
  /** HS* only: the same secret for node:crypto (see ./internal.ts). */
  hmac: HmacKey | undefined;
}

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

const HASH: Readonly<Record<string, string>> = {
  HS256: 'SHA-256',
  HS384: 'SHA-384',
  HS512: 'SHA-512',
};
const MIN_HMAC_BYTES = 32;

const ringOptionName: KeyOptionName = (index, field) =>
  field === undefined ? `keys[${index}]` : `keys[${index}].${field}`;
const MIN_RSA_BITS = 2048;
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

function isJwk(value: unknown): value is Jwk {
  return typeof value === 'object' && value !== null && !(value instanceof Uint8Array);
}

function decodeBase64Url(text: string, option: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw invalid(option, 'must be base64url (k of an oct JWK)');
  return new Uint8Array(Buffer.from(text, 'base64url'));
}

function secretBytes(secret: KeyInput['secret'], option: string, production: boolean): Uint8Array {
  let bytes: Uint8Array;
  if (typeof secret === 'string') {
    // The algorithm-confusion mistake: a public key's PEM is public, so anyone could forge
    // HMAC tokens with it. Refused however the ring is used.
    if (looksLikePem(secret)) {
      throw invalid(
        option,
        'looks like a PEM key, but HS* algorithms use it as a shared secret (anyone holding ' +
          'a public key could then forge tokens): use algorithm RS256, ES256 or EdDSA with ' +
          'privateKey, or a random secret of at least 32 characters',
      );
    }
    bytes = new TextEncoder().encode(secret);
  } else if (secret instanceof Uint8Array) {
    bytes = secret;
  } else if (isJwk(secret)) {
    if (secret.kty !== 'oct' || typeof secret.k !== 'string') {
      throw invalid(option, 'must be an oct JWK ({ kty: "oct", k: "<base64url>" }) for HS*');
    }
    bytes = decodeBase64Url(secret.k, option);
  } else {
    throw invalid(option, 'is required for HS* keys: a string, bytes or an oct JWK');
  }
  if (bytes.length === 0) {
    throw invalid(
      option,
      'is empty: give a random secret of at least 32 characters (`openssl rand -base64 48`)',
    );
  }
  if (production && bytes.length < MIN_HMAC_BYTES) {
    throw invalid(
      option,
      `is ${bytes.length} bytes; production needs at least ${MIN_HMAC_BYTES} so it cannot be ` +
        'guessed offline from a token (generate one with `openssl rand -base64 48`)',
    );
  }
  return bytes;
}

function asymmetricKey(input: string | Jwk, kind: 'private' | 'public', option: string): KeyObject {
  try {
    if (typeof input === 'string') {
      // node:crypto reads PKCS#8, PKCS#1 (RSA PRIVATE KEY) and SEC1 (EC PRIVATE KEY) alike,
      // where jose's importPKCS8 takes only the first.
      return kind === 'private' ? createPrivateKey(input) : createPublicKey(input);
    }
    if (!isJwk(input)) throw new TypeError('not a JWK object');
    if (kind === 'public') {
      const publicOnly: Record<string, unknown> = { ...input };
      for (const member of PRIVATE_JWK_MEMBERS) delete publicOnly[member];
      return createPublicKey({ key: publicOnly as JsonWebKey, format: 'jwk' });
    }
    return createPrivateKey({ key: input, format: 'jwk' });
  } catch (error) {
    throw invalid(
      option,
      `is not a readable ${kind} key (${error instanceof Error ? error.message : String(error)}): ` +
        `pass a PEM${kind === 'private' ? ' (PKCS#8, PKCS#1 or SEC1)' : ' (SPKI)'} or a JWK`,
      error,
    );
  }
}

/** Checks that an asymmetric key can serve the algorithm, so a mismatch fails at start-up. */
function checkKeyType(key: KeyObject, algorithm: JwtAlgorithm, option: string): void {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (algorithm === 'RS256') {
    if (type !== 'rsa') throw invalid(option, `is a ${type} key; RS256 needs an RSA key`);
    if ((details.modulusLength ?? 0) < MIN_RSA_BITS) {
      throw invalid(option, `is a ${details.modulusLength}-bit RSA key; RS256 needs 2048 or more`);
    }
  } else if (algorithm === 'ES256') {
    if (type !== 'ec' || details.namedCurve !== 'prime256v1') {
      throw invalid(
        option,
        `is not a P-256 EC key (${type} ${details.namedCurve ?? ''}); ES256 needs one`,
      );
    }
  } else if (algorithm === 'EdDSA') {
    if (type !== 'ed25519') throw invalid(option, `is a ${type} key; EdDSA here means Ed25519`);
  }
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
  const entries: Entry[] = [];
  const byKid = new Map<string, Entry>();
  const pending: Array<Promise<void>> = [];

  const named = keyOptionNames.get(options) ?? ringOptionName;
  options.keys.forEach((input, index) => {
    const option = named(index);
    const algorithm = checkOption(
      OPTIONS,
      named(index, 'algorithm'),
      input.algorithm ?? 'HS256',
      ALGORITHM,
    );
    optionOrDefault(OPTIONS, {
      name: named(index, 'kid'),
      value: input.kid,
      rule: nonEmptyStringRule,
      fallback: undefined,
    });
    if (options.keys.length > 1 && input.kid === undefined) {
      throw invalid(named(index, 'kid'), 'is required when the ring holds more than one key');
    }
    if (input.kid !== undefined && byKid.has(input.kid)) {
      throw invalid(
        named(index, 'kid'),
        `repeats ${JSON.stringify(input.kid)}: kids must be unique`,
      );
    }
    const entry: Entry = {
      kid: input.kid,
      algorithm,
      verify: undefined,
      sign: undefined,
      hmac: undefined,
    };
    const hash = HASH[algorithm];
    if (hash !== undefined) {
      if (input.privateKey !== undefined || input.publicKey !== undefined) {
        throw invalid(option, `is ${algorithm}, which takes a secret, not a private or public key`);
      }
      const bytes = secretBytes(input.secret, named(index, 'secret'), production);
      // WebCrypto's hash name, SHA-256, is node:crypto's sha256.
      entry.hmac = { secret: createSecretKey(bytes), hash: hash.replace('-', '').toLowerCase() };
      pending.push(
        webcrypto.subtle
          .importKey('raw', bytes, { name: 'HMAC', hash }, false, ['sign', 'verify'])
          .then((key) => {
            entry.verify = key;
            entry.sign = key;
          }),
      );
    } else {
      if (input.secret !== undefined) {
        throw invalid(option, `is ${algorithm}, which takes privateKey/publicKey, not a secret`);
      }
      if (input.privateKey === undefined && input.publicKey === undefined) {
        throw invalid(
          option,
          `is ${algorithm}: give privateKey (to sign) or publicKey (to verify)`,
        );
      }
      if (input.privateKey !== undefined) {
        const privateKey = asymmetricKey(input.privateKey, 'private', named(index, 'privateKey'));
        checkKeyType(privateKey, algorithm, named(index, 'privateKey'));
        entry.sign = privateKey;
        entry.verify = createPublicKey(privateKey);
      }
      if (input.publicKey !== undefined) {
        const publicKey = asymmetricKey(input.publicKey, 'public', named(index, 'publicKey'));
        checkKeyType(publicKey, algorithm, named(index, 'publicKey'));
        if (entry.verify !== undefined && !(entry.verify as KeyObject).equals(publicKey)) {
          throw invalid(named(index, 'publicKey'), 'does not belong to privateKey');
        }
        entry.verify = publicKey;
      }
    }
    entries.push(entry);
    if (input.kid !== undefined) byKid.set(input.kid, entry);
  });

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
  const signing = signingIndex === -1 ? undefined : (entries[signingIndex] as Entry);
  const algorithms = [...new Set(entries.map((entry) => entry.algorithm))];
  // Keys without a kid are found by algorithm alone; there is at most one (see above).
  const anonymous = entries.find((entry) => entry.kid === undefined);
  const all = Promise.all(pending).then(() => undefined);
  // An import failure surfaces from ready(); this keeps it from being an unhandled rejection.
  all.catch(() => {});

  const ring: KeyRing = {
    algorithms,
    ready: () => all,
    find(algorithm, kid) {
      const entry = kid === undefined ? anonymous : byKid.get(kid);
      return entry !== undefined && entry.algorithm === algorithm ? entry.verify : undefined;
    },
    signer() {
      if (signing?.sign === undefined) return undefined;
      return { key: signing.sign, algorithm: signing.algorithm, kid: signing.kid };
    },
  };
  registerHmacSecrets(ring, (algorithm, kid) => {
    const entry = kid === undefined ? anonymous : byKid.get(kid);
    return entry !== undefined && entry.algorithm === algorithm ? entry.hmac : undefined;
  });
  return ring;
}
