import { describe, expect, it } from 'vitest';
import {
  type CompressionCandidate,
  createCompressionPolicy,
  isCompressibleType,
  mediaTypeOf,
  negotiateEncoding,
  peekBody,
  shouldCompress,
  weakenEtag,
} from './index.js';

function candidate(
  headers: Record<string, string>,
  rest: Partial<Omit<CompressionCandidate, 'headers'>> = {},
): CompressionCandidate {
  const lower = new Headers(headers);
  return { method: 'GET', status: 200, headers: lower, ...rest };
}

const json = { 'content-type': 'application/json; charset=utf-8' };

describe('negotiateEncoding', () => {
  it('prefers br, then gzip, then deflate when q-values tie', () => {
    expect(negotiateEncoding('gzip, deflate, br')).toBe('br');
    expect(negotiateEncoding('deflate, gzip')).toBe('gzip');
    expect(negotiateEncoding('deflate')).toBe('deflate');
    expect(negotiateEncoding('gzip, deflate, br, zstd')).toBe('br');
  });

  it('follows the client q-values over the server order', () => {
    expect(negotiateEncoding('br;q=0.5, gzip;q=0.9')).toBe('gzip');
    expect(negotiateEncoding('gzip;q=0.5, br;q=1')).toBe('br');
    expect(negotiateEncoding('deflate;q=1, gzip;q=0.999, br;q=0.998')).toBe('deflate');
    expect(negotiateEncoding('GZIP; Q=0.8, BR;q=0.7')).toBe('gzip');
  });

  it('honours q=0 as "not acceptable"', () => {
    expect(negotiateEncoding('br;q=0, gzip')).toBe('gzip');
    expect(negotiateEncoding('br;q=0, gzip;q=0, deflate;q=0')).toBeNull();
    expect(negotiateEncoding('gzip;q=0.000')).toBeNull();
  });

  it('reads * as every coding not named', () => {
    expect(negotiateEncoding('*')).toBe('br');
    expect(negotiateEncoding('br;q=0, *')).toBe('gzip');
    expect(negotiateEncoding('*;q=0.5, gzip')).toBe('gzip');
    expect(negotiateEncoding('*;q=0')).toBeNull();
    expect(negotiateEncoding('*;q=0, deflate')).toBe('deflate');
  });

  it('sends identity when the client prefers it or names nothing we have', () => {
    expect(negotiateEncoding('identity')).toBeNull();
    expect(negotiateEncoding('gzip;q=0.5, identity')).toBeNull();
    expect(negotiateEncoding('zstd, compress')).toBeNull();
    expect(negotiateEncoding('')).toBeNull();
    expect(negotiateEncoding(null)).toBeNull();
    expect(negotiateEncoding(undefined)).toBeNull();
    // Not named, identity weighs as little as the least preferred coding listed.
    expect(negotiateEncoding('gzip;q=0.5')).toBe('gzip');
  });

  it('takes x-gzip for gzip and skips elements with a malformed weight', () => {
    expect(negotiateEncoding('x-gzip')).toBe('gzip');
    expect(negotiateEncoding('br;q=2, gzip')).toBe('gzip');
    expect(negotiateEncoding('br;q=abc, deflate')).toBe('deflate');
    expect(negotiateEncoding('br;q=0.1234, deflate;q=0.5')).toBe('deflate');
  });

  it('offers only the configured codings, in the configured order', () => {
    expect(negotiateEncoding('br, gzip', { encodings: ['gzip'] })).toBe('gzip');
    expect(negotiateEncoding('br, gzip', { encodings: ['gzip', 'br'] })).toBe('gzip');
    expect(negotiateEncoding('br', { encodings: ['gzip', 'deflate'] })).toBeNull();
  });

  it('compresses for a missing header only when asked to', () => {
    expect(negotiateEncoding(undefined, { compressWithoutAcceptEncoding: true })).toBe('br');
  });

  it('gives the same answer from its cache as from a fresh parse', () => {
    const policy = createCompressionPolicy();
    for (let round = 0; round < 3; round++) {
      expect(policy.negotiate('gzip;q=0.9, br;q=0.8')).toBe('gzip');
      expect(policy.negotiate('br;q=0')).toBeNull();
    }
    for (let index = 0; index < 200; index++) policy.negotiate(`gzip;q=0.${index % 10}, x${index}`);
    expect(policy.negotiate('gzip;q=0.9, br;q=0.8')).toBe('gzip');
  });
});

describe('shouldCompress and decide', () => {
  const policy = createCompressionPolicy();

  it('draws the line after 1024 bytes', () => {
    expect(shouldCompress(candidate(json, { size: 1023 }))).toBe(false);
    expect(shouldCompress(candidate(json, { size: 1024 }))).toBe(false);
    expect(shouldCompress(candidate(json, { size: 1025 }))).toBe(true);
    expect(shouldCompress(candidate({ ...json, 'content-length': '1024' }))).toBe(false);
    expect(shouldCompress(candidate({ ...json, 'content-length': '1025' }))).toBe(true);
    // Unknown size (a stream): large until proven otherwise.
    expect(shouldCompress(candidate(json))).toBe(true);
    expect(shouldCompress(candidate(json, { size: 10 }), { threshold: 0 })).toBe(true);
  });

  it('leaves HEAD, 1xx, 204, 206 and 304 alone but still varies', () => {
    for (const rest of [
      { method: 'HEAD' },
      { status: 204 },
      { status: 206 },
      { status: 304 },
      { status: 101 },
    ]) {
      const decision = policy.decide(candidate(json, { size: 5000, ...rest }), 'gzip');
      expect(decision.encoding).toBeNull();
      expect(decision.vary).toBe(true);
    }
    expect(policy.decide(candidate(json, { size: 5000, status: 404 }), 'gzip').encoding).toBe(
      'gzip',
    );
    expect(policy.decide(candidate(json, { size: 5000, status: 500 }), 'gzip').encoding).toBe(
      'gzip',
    );
  });

  it('respects no-transform and existing encodings without varying', () => {
    const noTransform = policy.decide(
      candidate({ ...json, 'cache-control': 'public, no-transform' }, { size: 5000 }),
      'gzip',
    );
    expect(noTransform).toEqual({ encoding: null, vary: false, reason: 'no-transform' });
    const encoded = policy.decide(
      candidate({ ...json, 'content-encoding': 'gzip' }, { size: 5000 }),
      'br',
    );
    expect(encoded).toEqual({ encoding: null, vary: false, reason: 'encoded' });
    const identity = policy.decide(
      candidate({ ...json, 'content-encoding': 'identity' }, { size: 5000 }),
      'br',
    );
    expect(identity.encoding).toBe('br');
  });

  it('compresses text, JSON and XML but not media, archives or unknown binary', () => {
    for (const type of [
      'text/html; charset=utf-8',
      'text/event-stream',
      'application/json',
      'application/problem+json',
      'application/vnd.api+json',
      'application/javascript',
      'image/svg+xml',
      'application/xml',
      'font/ttf',
    ]) {
      expect(policy.isCompressible(type), type).toBe(true);
    }
    for (const type of [
      'image/png',
      'image/jpeg',
      'image/webp',
      'video/mp4',
      'audio/mpeg',
      'application/zip',
      'application/gzip',
      'application/octet-stream',
      'font/woff2',
      '',
    ]) {
      expect(policy.isCompressible(type), type).toBe(false);
    }
    expect(policy.isCompressible(undefined)).toBe(false);
    expect(
      policy.decide(candidate({ 'content-type': 'image/png' }, { size: 9000 }), 'gzip'),
    ).toEqual({
      encoding: null,
      vary: false,
      reason: 'type',
    });
    const custom = createCompressionPolicy({ filter: (type) => type === 'image/png' });
    expect(
      custom.decide(candidate({ 'content-type': 'image/png' }, { size: 9000 }), 'gzip').encoding,
    ).toBe('gzip');
  });

  it('says why nothing was done when the client accepts no coding we have', () => {
    expect(policy.decide(candidate(json, { size: 5000 }), 'identity')).toEqual({
      encoding: null,
      vary: true,
      reason: 'not-acceptable',
    });
    expect(policy.decide(candidate(json, { size: 5000 }), 'deflate')).toEqual({
      encoding: 'deflate',
      vary: true,
      reason: 'compress',
    });
  });

  it('reads Node-style header values (numbers and arrays)', () => {
    const values: Record<string, string | number | string[]> = {
      'content-type': 'application/json',
      'content-length': 2048,
      'cache-control': ['private', 'no-transform'],
    };
    const decision = policy.decide(
      { method: 'GET', status: 200, headers: { get: (name) => values[name] } },
      'gzip',
    );
    expect(decision.reason).toBe('no-transform');
    delete values['cache-control'];
    expect(
      policy.decide(
        { method: 'GET', status: 200, headers: { get: (name) => values[name] } },
        'gzip',
      ).encoding,
    ).toBe('gzip');
  });
});

describe('helpers and options', () => {
  it('weakens a strong ETag once', () => {
    expect(weakenEtag('"abc"')).toBe('W/"abc"');
    expect(weakenEtag('W/"abc"')).toBe('W/"abc"');
  });

  it('normalizes media types', () => {
    expect(mediaTypeOf(' Application/JSON ; charset=utf-8')).toBe('application/json');
    expect(isCompressibleType('text/csv')).toBe(true);
  });

  it('refuses bad options by name', () => {
    expect(() => createCompressionPolicy({ threshold: -1 })).toThrow(
      /threshold must be a whole number/,
    );
    expect(() => createCompressionPolicy({ threshold: 1.5 })).toThrow(/INVALID_OPTIONS|threshold/);
    expect(() => createCompressionPolicy({ encodings: [] })).toThrow(/encodings must be/);
    expect(() =>
      createCompressionPolicy({ encodings: ['gzip', 'gzip'] as unknown as ['gzip'] }),
    ).toThrow(/without repeats/);
    expect(() => createCompressionPolicy({ encodings: ['zstd'] as unknown as ['gzip'] })).toThrow(
      /encodings/,
    );
    expect(() => createCompressionPolicy({ filter: 'json' as unknown as () => boolean })).toThrow(
      /filter must be a function/,
    );
    expect(() => createCompressionPolicy('fast' as unknown as object)).toThrow(
      /options must be an object/,
    );
    try {
      createCompressionPolicy({ threshold: -1 });
    } catch (error) {
      expect(error).toMatchObject({ code: 'INVALID_OPTIONS', status: 500 });
      expect((error as Error).message).toMatch(/^\[@fairmind\/edge\] createCompressionPolicy: /);
    }
  });
});

describe('peekBody', () => {
  const reads = (...sizes: number[]) => {
    const chunks = sizes.map((size) => new Uint8Array(size));
    return async () => {
      const value = chunks.shift();
      return value === undefined ? { done: true } : { value };
    };
  };

  it('reads a body that ends within the limit whole, however many pieces it comes in', async () => {
    const peeked = await peekBody(reads(512, 0, 512), 1024);
    expect(peeked).toMatchObject({ size: 1024, ended: true });
    expect(peeked.chunks).toHaveLength(2);
    expect(await peekBody(reads(), 1024)).toEqual({ chunks: [], size: 0, ended: true });
  });

  it('stops as soon as the bytes pass the limit, leaving the rest unread', async () => {
    const read = reads(512, 513, 4096);
    expect(await peekBody(read, 1024)).toMatchObject({ size: 1025, ended: false });
    expect((await read()).value?.byteLength).toBe(4096);
  });

  it('gives up on a stream of empty chunks after a bounded number of reads', async () => {
    let calls = 0;
    const empty = async () => {
      calls++;
      return { value: new Uint8Array(0) };
    };
    expect(await peekBody(empty, 8)).toMatchObject({ size: 0, ended: false });
    expect(calls).toBe(10);
  });
});
