// Reading key material: secrets, PEM and JWK text into bytes and KeyObjects, each checked
// against what its algorithm needs, every problem an INVALID_OPTIONS error naming the option.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { hmacSecretLength, looksLikePem, MIN_HMAC_SECRET_LENGTH } from '@fairmind/core/rules';
import { invalid } from '../errors/index.js';
import type { Jwk, JwtAlgorithm, KeyInput } from './index.js';

/** node:crypto's JWK input, by whatever name the installed @types/node gives it. */
type NodeJwk = Extract<Parameters<typeof createPublicKey>[0], { format: 'jwk' }>['key'];

const MIN_RSA_BITS = 2048;
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

function isJwk(value: unknown): value is Jwk {
  return typeof value === 'object' && value !== null && !(value instanceof Uint8Array);
}

function decodeBase64Url(text: string, option: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw invalid(option, 'must be base64url (k of an oct JWK)');
  return new Uint8Array(Buffer.from(text, 'base64url'));
}

export function secretBytes(
  secret: KeyInput['secret'],
  option: string,
  production: boolean,
): Uint8Array {
  let bytes: Uint8Array;
  if (typeof secret === 'string') {
    // The algorithm-confusion mistake: a public key's PEM is public, so anyone could forge
    // HMAC tokens with it. Refused however the ring is used.
    if (looksLikePem(secret)) {
      throw invalid(
        option,
        'looks like a PEM key, but HS* algorithms use it as a shared secret (anyone holding ' +
          'a public key could then forge tokens): use algorithm RS256, ES256 or EdDSA with ' +
          `privateKey, or a random secret of at least ${MIN_HMAC_SECRET_LENGTH} characters`,
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
      `is empty: give a random secret of at least ${MIN_HMAC_SECRET_LENGTH} characters ` +
        '(`openssl rand -base64 48`)',
    );
  }
  // Text is counted as core's rule counts it (characters), so JWT_SECRET and this agree.
  const length = hmacSecretLength(typeof secret === 'string' ? secret : bytes);
  if (production && length < MIN_HMAC_SECRET_LENGTH) {
    const size =
      typeof secret === 'string'
        ? `${length} characters (${bytes.length} bytes)`
        : `${bytes.length} bytes`;
    throw invalid(
      option,
      `is ${size}; production needs at least ${MIN_HMAC_SECRET_LENGTH} so it cannot be ` +
        'guessed offline from a token (generate one with `openssl rand -base64 48`)',
    );
  }
  return bytes;
}

export function asymmetricKey(
  input: string | Jwk,
  kind: 'private' | 'public',
  option: string,
): KeyObject {
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
      return createPublicKey({ key: publicOnly as NodeJwk, format: 'jwk' });
    }
    return createPrivateKey({ key: input as NodeJwk, format: 'jwk' });
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
export function checkKeyType(key: KeyObject, algorithm: JwtAlgorithm, option: string): void {
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
