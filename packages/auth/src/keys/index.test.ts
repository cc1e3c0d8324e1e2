import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyRing } from './index.js';

describe('key ring', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  it('reads PKCS#8, PKCS#1 and SEC1 private keys, SPKI public keys and JWKs', async () => {
    const inputs = [
      {
        algorithm: 'RS256' as const,
        privateKey: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      },
      {
        algorithm: 'RS256' as const,
        privateKey: rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
      },
      {
        algorithm: 'ES256' as const,
        privateKey: ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string,
      },
      {
        algorithm: 'ES256' as const,
        publicKey: ec.publicKey.export({ type: 'spki', format: 'pem' }) as string,
      },
      { algorithm: 'ES256' as const, publicKey: ec.privateKey.export({ format: 'jwk' }) as never },
    ];
    for (const input of inputs) {
      const ring = createKeyRing({ keys: [input] });
      await ring.ready();
      expect(ring.algorithms).toEqual([input.algorithm]);
      expect(ring.find(input.algorithm, undefined)).toBeDefined();
      expect(ring.find('HS256', undefined)).toBeUndefined();
    }
  });

  it('refuses keys that do not fit their algorithm', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const secp384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const cases: Array<[object, RegExp]> = [
      [
        { algorithm: 'ES256', privateKey: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) },
        /P-256/,
      ],
      [
        {
          algorithm: 'RS256',
          privateKey: small.privateKey.export({ type: 'pkcs8', format: 'pem' }),
        },
        /2048/,
      ],
      [
        {
          algorithm: 'ES256',
          privateKey: secp384.privateKey.export({ type: 'pkcs8', format: 'pem' }),
        },
        /P-256/,
      ],
      [
        { algorithm: 'EdDSA', privateKey: ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) },
        /Ed25519/,
      ],
      [{ algorithm: 'RS256', privateKey: 'not a pem' }, /not a readable private key/],
      [{ algorithm: 'RS256', secret: 'x'.repeat(40) }, /not a secret/],
      [{ algorithm: 'HS256', privateKey: 'x' }, /takes a secret/],
      [{ algorithm: 'HS256', secret: { kty: 'RSA' } }, /oct JWK/],
      [{ algorithm: 'HS999', secret: 'x' }, /must be one of/],
      [
        {
          algorithm: 'RS256',
          privateKey: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }),
          publicKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
            type: 'spki',
            format: 'pem',
          }),
        },
        /does not belong/,
      ],
    ];
    for (const [input, message] of cases) {
      expect(() => createKeyRing({ keys: [input as never] }), String(message)).toThrow(message);
    }
  });

  it('refuses a PEM as an HMAC secret, and short secrets in production', () => {
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(() => createKeyRing({ keys: [{ secret: pem }] })).toThrow(/algorithm-confusion|PEM key/);
    expect(() => createKeyRing({ keys: [{ secret: 'x'.repeat(31) }], production: true })).toThrow(
      /31 bytes/,
    );
    expect(() =>
      createKeyRing({ keys: [{ secret: 'x'.repeat(31) }], production: false }),
    ).not.toThrow();
  });

  it('needs unique kids in a ring of several keys, and a signing kid that can sign', () => {
    expect(() =>
      createKeyRing({ keys: [{ secret: 'a'.repeat(32) }, { kid: 'b', secret: 'b'.repeat(32) }] }),
    ).toThrow(/kid is required/);
    expect(() =>
      createKeyRing({
        keys: [
          { kid: 'a', secret: 'a'.repeat(32) },
          { kid: 'a', secret: 'b'.repeat(32) },
        ],
      }),
    ).toThrow(/unique/);
    const verifyOnly = {
      kid: 'pub',
      algorithm: 'ES256' as const,
      publicKey: ec.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    };
    expect(() =>
      createKeyRing({
        keys: [verifyOnly, { kid: 'h', secret: 'a'.repeat(32) }],
        signingKid: 'pub',
      }),
    ).toThrow(/cannot sign/);
    expect(() => createKeyRing({ keys: [verifyOnly], signingKid: 'nope' })).toThrow(/names no key/);
    expect(createKeyRing({ keys: [verifyOnly] }).signer()).toBeUndefined();
  });
});
