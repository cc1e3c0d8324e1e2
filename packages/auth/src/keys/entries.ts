import { createPublicKey, createSecretKey, type KeyObject, webcrypto } from 'node:crypto';
import { checkOption, nonEmptyStringRule, oneOfRule, optionOrDefault } from '@fairmind/core';
import { SUPPORTED_JWT_ALGORITHMS } from '@fairmind/core/rules';
import { invalid } from '../errors/index.js';
import { OPTIONS } from '../errors/options.js';
import type { JwtAlgorithm, KeyInput, KeyRingOptions, VerificationKey } from './index.js';
import { type HmacKey, type KeyOptionName, keyOptionNames } from './internal.js';
import { asymmetricKey, checkKeyType, secretBytes } from './material.js';

/** One key of a ring, imported. */
export interface Entry {
  readonly kid: string | undefined;
  readonly algorithm: JwtAlgorithm;
  verify: VerificationKey | undefined;
  sign: VerificationKey | undefined;
  /** HS* only: the same secret for node:crypto (see ./internal.ts). */
  hmac: HmacKey | undefined;
}

/** The keys of a ring in the order given, by kid, and the HMAC imports still under way. */
export interface ImportedKeys {
  readonly entries: Entry[];
  readonly byKid: Map<string, Entry>;
  readonly pending: Array<Promise<void>>;
}

/** One input being imported: where it sits, and how the errors name its options. */
interface KeyImport {
  readonly input: KeyInput;
  readonly index: number;
  readonly named: KeyOptionName;
  readonly production: boolean;
}

const ALGORITHM = oneOfRule(SUPPORTED_JWT_ALGORITHMS);

const HASH: Readonly<Record<string, string>> = {
  HS256: 'SHA-256',
  HS384: 'SHA-384',
  HS512: 'SHA-512',
};

const ringOptionName: KeyOptionName = (index, field) =>
  field === undefined ? `keys[${index}]` : `keys[${index}].${field}`;

/** Imports every key of the ring, in order, throwing at the first bad one. */
export function importKeys(options: KeyRingOptions, production: boolean): ImportedKeys {
  const imported: ImportedKeys = { entries: [], byKid: new Map(), pending: [] };
  const named = keyOptionNames.get(options) ?? ringOptionName;
  options.keys.forEach((input, index) => {
    const key: KeyImport = { input, index, named, production };
    const entry: Entry = {
      kid: input.kid,
      algorithm: checkedAlgorithm(key, options.keys.length, imported.byKid),
      verify: undefined,
      sign: undefined,
      hmac: undefined,
    };
    const hash = HASH[entry.algorithm];
    if (hash !== undefined) imported.pending.push(importHmac(key, entry, hash));
    else importAsymmetric(key, entry);
    imported.entries.push(entry);
    if (input.kid !== undefined) imported.byKid.set(input.kid, entry);
  });
  return imported;
}

/** The key's algorithm, once it and the kid are known to be usable in a ring of `count`. */
function checkedAlgorithm(
  { input, index, named }: KeyImport,
  count: number,
  byKid: ReadonlyMap<string, Entry>,
): JwtAlgorithm {
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
  if (count > 1 && input.kid === undefined) {
    throw invalid(named(index, 'kid'), 'is required when the ring holds more than one key');
  }
  if (input.kid !== undefined && byKid.has(input.kid)) {
    throw invalid(named(index, 'kid'), `repeats ${JSON.stringify(input.kid)}: kids must be unique`);
  }
  return algorithm;
}

/** An HS* key: the secret for node:crypto now, the WebCrypto key when the promise settles. */
function importHmac(key: KeyImport, entry: Entry, hash: string): Promise<void> {
  const { input, index, named } = key;
  if (input.privateKey !== undefined || input.publicKey !== undefined) {
    throw invalid(
      named(index),
      `is ${entry.algorithm}, which takes a secret, not a private or public key`,
    );
  }
  const bytes = secretBytes(input.secret, named(index, 'secret'), key.production);
  // WebCrypto's hash name, SHA-256, is node:crypto's sha256.
  entry.hmac = { secret: createSecretKey(bytes), hash: hash.replace('-', '').toLowerCase() };
  return webcrypto.subtle
    .importKey('raw', bytes, { name: 'HMAC', hash }, false, ['sign', 'verify'])
    .then((imported) => {
      entry.verify = imported;
      entry.sign = imported;
    });
}

/** An RS256/ES256/EdDSA key: a private key signs (and gives the public one), a public one verifies. */
function importAsymmetric({ input, index, named }: KeyImport, entry: Entry): void {
  const { algorithm } = entry;
  if (input.secret !== undefined) {
    throw invalid(named(index), `is ${algorithm}, which takes privateKey/publicKey, not a secret`);
  }
  if (input.privateKey === undefined && input.publicKey === undefined) {
    throw invalid(
      named(index),
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
