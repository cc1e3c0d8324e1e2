import { createHmac, generateKeyPairSync } from 'node:crypto';
import { compactVerify, SignJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createKeyRing, type KeyRing } from '../keys/index.js';
import { hmacKeyOf } from '../keys/internal.js';
import { rejection, TEST_SECRET } from '../testing/index.js';
import { createJwtVerifier, precheckToken, signJwt } from './index.js';

// RFC 7515 appendix A.1: an HS256 JWS with the key of A.1.1, issued by "joe", exp 1300819380.
const RFC7515_A1_KEY = {
  kty: 'oct',
  k: 'AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow',
};
const RFC7515_A1_TOKEN =
  'eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9' +
  '.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ' +
  '.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';

// RFC 7520 section 4.4: HMAC-SHA2 integrity protection (figures 32-34). The payload is the
// Frodo quotation, which is not JSON.
const RFC7520_KEY = {
  kty: 'oct',
  kid: '018c0ae5-4d9b-471b-bfd6-eef314bc7037',
  k: 'hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg',
};
const RFC7520_TOKEN =
  'eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9' +
  '.SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4' +
  '.s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0';

const SECRET = TEST_SECRET;
const NOW = 1_800_000_000;
const ring = createKeyRing({ keys: [{ algorithm: 'HS256', secret: SECRET }] });

function b64(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString(
    'base64url',
  );
}

/** A token signed by hand, for headers jose refuses to write. */
function handSigned(header: object, payload: object, key: string | Buffer = SECRET): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

function verifier(overrides: Partial<Parameters<typeof createJwtVerifier>[0]> = {}) {
  return createJwtVerifier({
    keys: ring,
    issuer: 'fairmind',
    audience: 'api',
    now: () => NOW * 1000,
    ...overrides,
  });
}

const claims = { iss: 'fairmind', aud: 'api', sub: 'u1', iat: NOW - 10, exp: NOW + 600 };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('RFC vectors', () => {
  it('verifies the RFC 7515 A.1 token at its own time and finds it expired now', async () => {
    const keys = createKeyRing({ keys: [{ algorithm: 'HS256', secret: RFC7515_A1_KEY }] });
    const then = createJwtVerifier({
      keys,
      issuer: 'joe',
      typ: 'JWT',
      now: () => 1_300_819_370_000,
    });
    const { payload } = await then(RFC7515_A1_TOKEN);
    expect(payload).toEqual({ iss: 'joe', exp: 1300819380, 'http://example.com/is_root': true });

    const today = createJwtVerifier({ keys, issuer: 'joe', typ: 'JWT' });
    const error = await rejection(today(RFC7515_A1_TOKEN));
    expect(error.code).toBe('TOKEN_EXPIRED');
    expect(error.status).toBe(401);
    expect(error.headers?.['WWW-Authenticate']).toBe('Bearer');
  });

  it('refuses the RFC 7520 4.4 token, whose signature is valid but whose payload is not JSON', async () => {
    const keys = createKeyRing({
      keys: [{ kid: RFC7520_KEY.kid, algorithm: 'HS256', secret: RFC7520_KEY }],
    });
    // The signature really is valid: jose's plain JWS check accepts it.
    const key = new Uint8Array(Buffer.from(RFC7520_KEY.k, 'base64url'));
    const jws = await compactVerify(RFC7520_TOKEN, key);
    expect(new TextDecoder().decode(jws.payload)).toMatch(/^It’s a dangerous business, Frodo/);

    const error = await rejection(createJwtVerifier({ keys })(RFC7520_TOKEN));
    expect(error.code).toBe('TOKEN_INVALID');
    expect(error.message).toMatch(/JSON object/);
  });
});

describe('algorithm allowlist', () => {
  it.each(['none', 'None', 'NONE', 'nOnE'])(
    'refuses alg %s, with or without a signature',
    async (alg) => {
      const unsigned = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}.`;
      const withSignature = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}.${b64('sig')}`;
      // Even an allowlist that (wrongly) named it would not let it through.
      const lenient = verifier({ algorithms: ['HS256'] });
      expect((await rejection(lenient(unsigned))).code).toBe('TOKEN_INVALID');
      const error = await rejection(lenient(withSignature));
      expect(error.code).toBe('TOKEN_INVALID');
      expect(error.message).toMatch(/alg "none"/);
      expect(() => precheckToken(withSignature, { algorithms: [alg] })).toThrow(/alg "none"/);
    },
  );

  it('refuses an HS256 token signed with the RSA public key PEM as the secret', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const forged = handSigned({ alg: 'HS256', typ: 'JWT' }, claims, publicPem);

    const rsaOnly = createKeyRing({ keys: [{ algorithm: 'RS256', publicKey: publicPem }] });
    const error = await rejection(verifier({ keys: rsaOnly })(forged));
    expect(error.code).toBe('TOKEN_INVALID');
    expect(error.message).toMatch(/algorithm "HS256" is not allowed/);

    // A ring with both kinds never lets an HS256 header reach the RSA key, even naming its kid.
    const mixed = createKeyRing({
      keys: [
        {
          kid: 'rsa',
          algorithm: 'RS256',
          privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
        },
        { kid: 'hmac', algorithm: 'HS256', secret: SECRET },
      ],
    });
    const forgedWithKid = handSigned({ alg: 'HS256', typ: 'JWT', kid: 'rsa' }, claims, publicPem);
    const mixedError = await rejection(verifier({ keys: mixed })(forgedWithKid));
    expect(mixedError.code).toBe('TOKEN_INVALID');
    expect(mixedError.message).toMatch(/unknown key/);
    // And the genuine RS256 token of that ring does verify.
    const genuine = await signJwt({ keys: mixed, typ: 'JWT' }, claims);
    const { header } = await verifier({ keys: mixed })(genuine);
    expect(header).toMatchObject({ alg: 'RS256', kid: 'rsa' });
  });

  it('compares alg case-sensitively', async () => {
    const token = handSigned({ alg: 'hs256', typ: 'JWT' }, claims);
    expect((await rejection(verifier()(token))).message).toMatch(/"hs256" is not allowed/);
  });
});

describe('claims', () => {
  async function signed(payload: object, header: object = { alg: 'HS256', typ: 'JWT' }) {
    return handSigned(header, payload);
  }

  it('accepts a good token', async () => {
    const { payload, header } = await verifier()(await signed(claims));
    expect(payload.sub).toBe('u1');
    expect(header.alg).toBe('HS256');
  });

  it('treats exp == now as expired (no tolerance), and exp == now - tolerance with the default 5 s', async () => {
    const strict = verifier({ clockToleranceSeconds: 0 });
    expect((await rejection(strict(await signed({ ...claims, exp: NOW })))).code).toBe(
      'TOKEN_EXPIRED',
    );
    await expect(strict(await signed({ ...claims, exp: NOW + 1 }))).resolves.toBeDefined();
    expect((await rejection(verifier()(await signed({ ...claims, exp: NOW - 5 })))).code).toBe(
      'TOKEN_EXPIRED',
    );
    await expect(verifier()(await signed({ ...claims, exp: NOW - 4 }))).resolves.toBeDefined();
  });

  it('refuses nbf in the future, a missing exp, iat in the future, wrong iss and wrong aud', async () => {
    const cases: Array<[string, object, RegExp]> = [
      ['nbf', { ...claims, nbf: NOW + 60 }, /"nbf"/],
      ['exp missing', { iss: 'fairmind', aud: 'api', sub: 'u1', iat: NOW }, /"exp"/],
      ['iat future', { ...claims, iat: NOW + 60 }, /future/],
      ['iss', { ...claims, iss: 'someone-else' }, /"iss"/],
      ['aud', { ...claims, aud: 'other-api' }, /"aud"/],
    ];
    for (const [name, payload, message] of cases) {
      const error = await rejection(verifier()(await signed(payload)));
      expect(error.code, name).toBe('TOKEN_INVALID');
      expect(error.message, name).toMatch(message);
    }
  });

  it('refuses a crit header, a wrong typ and a non-object header', async () => {
    const crit = await signed(claims, { alg: 'HS256', typ: 'JWT', crit: ['exp'] });
    expect((await rejection(verifier()(crit))).message).toMatch(/"crit"/);
    const typed = verifier({ typ: 'at+jwt' });
    expect((await rejection(typed(await signed(claims)))).message).toMatch(/type at\+jwt/);
    await expect(
      typed(await signed(claims, { alg: 'HS256', typ: 'application/AT+JWT' })),
    ).resolves.toBeDefined();
    const arrayHeader = `${b64([1])}.${b64(claims)}.${b64('x')}`;
    expect((await rejection(verifier()(arrayHeader))).message).toMatch(/not a JSON object/);
  });
});

describe('compact form, before any cryptography', () => {
  it('refuses four segments, padding, whitespace and non-canonical base64url', async () => {
    const good = handSigned({ alg: 'HS256', typ: 'JWT' }, claims);
    const last = good.at(-1) as string;
    const variants = [
      `${good}.${b64('x')}`,
      `${good}=`,
      `${good} `,
      `${good}\n`,
      ` ${good}`,
      good.replace('.', '..'),
      // The same signature bytes with non-zero spare bits in the last character.
      `${good.slice(0, -1)}${String.fromCharCode(last.charCodeAt(0) + 1)}`,
    ];
    for (const variant of variants) {
      const error = await rejection(verifier()(variant));
      expect(error.code, JSON.stringify(variant.slice(-4))).toBe('TOKEN_INVALID');
    }
  });

  it('refuses a 9 KiB token without running any signature check', async () => {
    const big = await signJwt({ keys: ring, typ: 'JWT' }, { ...claims, pad: 'x'.repeat(9 * 1024) });
    expect(big.length).toBeGreaterThan(9 * 1024);
    // A ring of our own making (not from createKeyRing) goes through jose, where every check
    // asks the ring for its key and then WebCrypto for the signature: count both.
    const lookups = vi.fn();
    const counted: KeyRing = {
      ...ring,
      find: (algorithm, kid) => {
        lookups();
        return ring.find(algorithm, kid);
      },
    };
    const spy = vi.spyOn(globalThis.crypto.subtle, 'verify');
    const verify = verifier({ keys: counted });
    await verify(await signJwt({ keys: ring, typ: 'JWT' }, claims));
    expect([lookups.mock.calls.length, spy.mock.calls.length]).toEqual([1, 1]);
    const error = await rejection(verify(big));
    expect(error.code).toBe('TOKEN_INVALID');
    expect(error.message).toMatch(/over 8192 bytes/);
    expect([lookups.mock.calls.length, spy.mock.calls.length]).toEqual([1, 1]);
    // createKeyRing's ring takes the node:crypto path, after the same size check.
    expect((await rejection(verifier()(big))).message).toMatch(/over 8192 bytes/);
  });

  it('refuses a token signed with another secret, and one naming an unknown kid', async () => {
    const other = handSigned(
      { alg: 'HS256', typ: 'JWT' },
      claims,
      'another-secret-of-sufficient-length!!',
    );
    expect((await rejection(verifier()(other))).message).toMatch(/signature/);
    const kid = handSigned({ alg: 'HS256', typ: 'JWT', kid: 'nope' }, claims);
    expect((await rejection(verifier()(kid))).message).toMatch(/unknown key/);
  });
});

describe('the node:crypto HMAC path agrees with jose', () => {
  // The verifier checks HS* signatures of createKeyRing's rings with node:crypto and leaves
  // the claims to jose; any other ring (a copy of one, here) is verified by jose's jwtVerify
  // alone. Both must reach the same verdict, with the same payload, on every token here.
  const HASHES = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' } as const;
  type Hs = keyof typeof HASHES;

  function signedRaw(alg: Hs, header: object, payloadSegment: string, key = SECRET): string {
    const input = `${b64(header)}.${payloadSegment}`;
    return `${input}.${createHmac(HASHES[alg], key).update(input).digest('base64url')}`;
  }

  function tokensFor(alg: Hs): Array<[string, string]> {
    const header = { alg, typ: 'JWT' };
    const sign = (payload: object, key = SECRET) => signedRaw(alg, header, b64(payload), key);
    const good = sign(claims);
    const [head, body, signature] = good.split('.') as [string, string, string];
    const otherHash = alg === 'HS256' ? 'sha512' : 'sha256';
    const input = `${head}.${body}`;
    return [
      ['valid', good],
      ['exp == now', sign({ ...claims, exp: NOW })],
      ['exp inside the tolerance', sign({ ...claims, exp: NOW - 3 })],
      ['exp at the edge of the tolerance', sign({ ...claims, exp: NOW - 5 })],
      ['exp one second inside it', sign({ ...claims, exp: NOW - 4 })],
      [
        'exp beyond any number',
        signedRaw(alg, header, b64(JSON.stringify(claims).replace(/"exp":\d+/, '"exp":1e400'))),
      ],
      ['nbf at the edge of the tolerance', sign({ ...claims, nbf: NOW + 5 })],
      ['nbf one second past it', sign({ ...claims, nbf: NOW + 6 })],
      ['nbf a string', sign({ ...claims, nbf: String(NOW) })],
      ['iat at the edge of the tolerance', sign({ ...claims, iat: NOW + 5 })],
      ['iat one second past it', sign({ ...claims, iat: NOW + 6 })],
      ['iss missing', sign({ aud: 'api', sub: 'u1', exp: NOW + 600 })],
      ['aud another string', sign({ ...claims, aud: 'other' })],
      ['payload null', signedRaw(alg, header, b64('null'))],
      ['payload empty object', sign({})],
      ['payload with a BOM', signedRaw(alg, header, b64(`\ufeff${JSON.stringify(claims)}`))],
      [
        'payload with a repeated key',
        signedRaw(alg, header, b64(JSON.stringify(claims).replace('{', '{"sub":"first",'))),
      ],
      [
        'payload with __proto__',
        signedRaw(
          alg,
          header,
          b64(JSON.stringify(claims).replace('{', '{"__proto__":{"admin":true},')),
        ),
      ],
      [
        'header not UTF-8',
        `${Buffer.concat([Buffer.from(`{"alg":"${alg}","typ":"JWT","x":"`), Buffer.from([0xff]), Buffer.from('"}')]).toString('base64url')}.${body}.${signature}`,
      ],
      ['header changed after signing', `${b64({ ...header, x: 1 })}.${body}.${signature}`],
      ['header with b64 false and no crit', signedRaw(alg, { ...header, b64: false }, body)],
      ['header with a kid that is not a string', signedRaw(alg, { ...header, kid: 7 }, body)],
      ['exp past the tolerance', sign({ ...claims, exp: NOW - 6 })],
      ['exp missing', sign({ iss: 'fairmind', aud: 'api', sub: 'u1' })],
      ['exp a string', sign({ ...claims, exp: String(NOW + 600) })],
      ['nbf in the future', sign({ ...claims, nbf: NOW + 60 })],
      ['nbf inside the tolerance', sign({ ...claims, nbf: NOW + 4 })],
      ['iat in the future', sign({ ...claims, iat: NOW + 60 })],
      ['wrong iss', sign({ ...claims, iss: 'mallory' })],
      ['aud list with ours', sign({ ...claims, aud: ['x', 'api'] })],
      ['aud list without ours', sign({ ...claims, aud: ['x', 'y'] })],
      ['payload not JSON', signedRaw(alg, header, b64('not json'))],
      ['payload a JSON array', signedRaw(alg, header, b64('[1,2]'))],
      ['payload a JSON string', signedRaw(alg, header, b64('"text"'))],
      [
        'payload not UTF-8',
        signedRaw(alg, header, Buffer.from([0xff, 0xfe]).toString('base64url')),
      ],
      ['another key', sign(claims, 'another-secret-of-sufficient-length!!')],
      ['payload changed after signing', `${head}.${b64({ ...claims, sub: 'admin' })}.${signature}`],
      [
        'signature of another hash',
        `${input}.${createHmac(otherHash, SECRET).update(input).digest('base64url')}`,
      ],
      ['signature cut short', `${input}.${signature.slice(0, 22)}`],
      [
        'signature with spare bits set',
        `${input}.${signature.slice(0, -1)}${String.fromCharCode((signature.at(-1) as string).charCodeAt(0) + 1)}`,
      ],
      [
        'signature one byte longer',
        `${input}.${Buffer.concat([Buffer.from(signature, 'base64url'), Buffer.from([0])]).toString('base64url')}`,
      ],
      [
        'signature of the payload alone',
        `${input}.${createHmac(HASHES[alg], SECRET).update(body).digest('base64url')}`,
      ],
    ];
  }

  async function verdict(verify: ReturnType<typeof createJwtVerifier>, token: string) {
    try {
      return { ok: true, payload: (await verify(token)).payload };
    } catch (error) {
      const { code, message } = error as { code: string; message: string };
      return { ok: false, code, message };
    }
  }

  for (const alg of Object.keys(HASHES) as Hs[]) {
    it(`reaches jose's verdict on ${alg} tokens`, async () => {
      const keys = createKeyRing({ keys: [{ algorithm: alg, secret: SECRET }] });
      const joseOnly: KeyRing = { ...keys };
      expect(hmacKeyOf(keys, alg, undefined)?.hash).toBe(HASHES[alg]);
      expect(hmacKeyOf(joseOnly, alg, undefined)).toBeUndefined();
      const fast = verifier({ keys });
      const jose = verifier({ keys: joseOnly });
      const outcomes = new Set<string>();
      for (const [name, token] of tokensFor(alg)) {
        const ours = await verdict(fast, token);
        const theirs = await verdict(jose, token);
        // Messages may differ in wording where jose names its own failure; the code and the
        // payload may not.
        expect({ ok: ours.ok, code: ours.code, payload: ours.payload }, name).toEqual({
          ok: theirs.ok,
          code: theirs.code,
          payload: theirs.payload,
        });
        outcomes.add(ours.ok ? 'ok' : (ours.code as string));
      }
      // The cases exercise every verdict, so agreement is not agreement on one answer.
      expect([...outcomes].sort()).toEqual(['TOKEN_EXPIRED', 'TOKEN_INVALID', 'ok']);
    });
  }
});

describe('bytes and numbers jose would let through', () => {
  it('refuses a header that is not UTF-8, as jose does, and an exp beyond any number', async () => {
    const badHeader = Buffer.concat([
      Buffer.from('{"alg":"HS256","typ":"JWT","x":"'),
      Buffer.from([0xff]),
      Buffer.from('"}'),
    ]).toString('base64url');
    const input = `${badHeader}.${b64(claims)}`;
    const token = `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
    expect((await rejection(verifier()(token))).message).toMatch(/header is not JSON/);

    const forever = JSON.stringify(claims).replace(/"exp":\d+/, '"exp":1e400');
    const endless = handSigned({ alg: 'HS256', typ: 'JWT' }, JSON.parse(forever));
    // JSON.stringify writes Infinity as null, so sign the text itself.
    const rawInput = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(forever)}`;
    const raw = `${rawInput}.${createHmac('sha256', SECRET).update(rawInput).digest('base64url')}`;
    expect((await rejection(verifier()(raw))).message).toMatch(
      /"exp" claim is not a finite number/,
    );
    expect((await rejection(verifier()(endless))).code).toBe('TOKEN_INVALID');
  });
});

describe('HMAC keys by kid', () => {
  const secrets = {
    k1: 'first-secret-of-at-least-thirty-two-chars',
    k2: 'second-secret-of-at-least-thirty-two-chars',
  };
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keys = createKeyRing({
    keys: [
      { kid: 'k1', algorithm: 'HS256', secret: secrets.k1 },
      { kid: 'k2', algorithm: 'HS512', secret: secrets.k2 },
      {
        kid: 'k3',
        algorithm: 'RS256',
        privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      },
    ],
    signingKid: 'k1',
  });
  function signed(alg: string, hash: string, kid: string | undefined, secret: string): string {
    const input = `${b64({ alg, typ: 'JWT', ...(kid === undefined ? {} : { kid }) })}.${b64(claims)}`;
    return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
  }

  it('verifies each token with its own kid and algorithm only, on both paths', async () => {
    const cases: Array<[string, string, boolean]> = [
      ['HS256 with k1', signed('HS256', 'sha256', 'k1', secrets.k1), true],
      ['HS512 with k2', signed('HS512', 'sha512', 'k2', secrets.k2), true],
      ['HS256 naming the HS512 key', signed('HS256', 'sha256', 'k2', secrets.k2), false],
      ['HS512 naming the HS256 key', signed('HS512', 'sha512', 'k1', secrets.k1), false],
      ['HS256 naming the RS256 key', signed('HS256', 'sha256', 'k3', secrets.k1), false],
      [
        'HS256 without a kid in a ring of several',
        signed('HS256', 'sha256', undefined, secrets.k1),
        false,
      ],
      ['HS256 naming an unknown kid', signed('HS256', 'sha256', 'k9', secrets.k1), false],
      ['HS256 with k1 signed by k2', signed('HS256', 'sha256', 'k1', secrets.k2), false],
    ];
    for (const ringUsed of [keys, { ...keys }]) {
      const verify = verifier({ keys: ringUsed });
      for (const [name, token, ok] of cases) {
        const outcome = await verify(token).then(
          () => 'ok',
          (error: { code: string }) => error.code,
        );
        expect(outcome, name).toBe(ok ? 'ok' : 'TOKEN_INVALID');
      }
    }
  });

  it('honours a wrapper that retires a kid: its find, not the secret it no longer returns', async () => {
    const retired: KeyRing = {
      ...keys,
      find: (algorithm, kid) => (kid === 'k1' ? undefined : keys.find(algorithm, kid)),
    };
    const error = await rejection(
      verifier({ keys: retired })(signed('HS256', 'sha256', 'k1', secrets.k1)),
    );
    expect(error.code).toBe('TOKEN_INVALID');
    expect(error.message).toMatch(/unknown key/);
    await expect(
      verifier({ keys: retired })(signed('HS512', 'sha512', 'k2', secrets.k2)),
    ).resolves.toBeDefined();
  });
});

describe('signJwt', () => {
  it('writes alg, typ and kid, and jose reads what it wrote', async () => {
    const keys = createKeyRing({ keys: [{ kid: 'k1', algorithm: 'HS384', secret: SECRET }] });
    const token = await signJwt({ keys, typ: 'at+jwt' }, claims);
    const header = JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString());
    expect(header).toEqual({ alg: 'HS384', typ: 'at+jwt', kid: 'k1' });
    await expect(createJwtVerifier({ keys, now: () => NOW * 1000 })(token)).resolves.toBeDefined();
    // jose's own signer agrees with the hand-written header shape.
    const viaJose = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS384', kid: 'k1' })
      .sign(new TextEncoder().encode(SECRET));
    await expect(
      createJwtVerifier({ keys, now: () => NOW * 1000 })(viaJose),
    ).resolves.toBeDefined();
  });

  it('refuses to sign with a verify-only ring', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keys = createKeyRing({
      keys: [
        {
          algorithm: 'ES256',
          publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string,
        },
      ],
    });
    await expect(signJwt({ keys, typ: 'JWT' }, claims)).rejects.toThrow(/cannot issue tokens/);
  });
});
