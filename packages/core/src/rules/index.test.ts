import { describe, expect, it } from 'vitest';
import {
  hmacSecretLength,
  looksLikePem,
  MIN_HMAC_SECRET_LENGTH,
  PASSWORD_BYTE_LIMITS,
  parseCorsOrigin,
  SUPPORTED_JWT_ALGORITHMS,
} from './index.js';

describe('parseCorsOrigin', () => {
  it('normalises case and default ports, and keeps the parts', () => {
    expect(parseCorsOrigin('HTTPS://App.Example.com:443')).toEqual({
      scheme: 'https',
      wildcard: false,
      host: 'app.example.com',
      port: '',
      origin: 'https://app.example.com',
    });
    expect(parseCorsOrigin('https://*.example.com:8443')).toMatchObject({
      wildcard: true,
      host: 'example.com',
      port: ':8443',
      origin: 'https://*.example.com:8443',
    });
    expect(parseCorsOrigin('http://[::1]:3000')).toMatchObject({ host: '[::1]', port: ':3000' });
  });

  it.each([
    ['https://app.example.com/', 'path'],
    ['https://app.example.com?x=1', 'path'],
    ['app.example.com', 'malformed'],
    ['https://*', 'malformed'],
    ['https://*.10.0.0.1', 'malformed'],
    ['https://999.1.1.1', 'malformed'],
    ['https://*.[::1]', 'malformed'],
    ['https://app.example.com:0', 'malformed'],
    ['https://user@app.example.com', 'malformed'],
    ['null', 'malformed'],
  ])('refuses %o as %s', (text, problem) => {
    expect(parseCorsOrigin(text)).toBe(problem);
  });
});

describe('token and password rules', () => {
  it('list the algorithms, HMAC first', () => {
    expect(SUPPORTED_JWT_ALGORITHMS.filter((name) => name.startsWith('HS'))).toEqual(
      SUPPORTED_JWT_ALGORITHMS.slice(0, 3),
    );
    expect(SUPPORTED_JWT_ALGORITHMS).toContain('EdDSA');
  });

  it('tell a PEM from a secret', () => {
    expect(looksLikePem('  -----BEGIN PUBLIC KEY-----\nMFkw...')).toBe(true);
    expect(looksLikePem('not -----BEGIN')).toBe(false);
  });

  it('measure HMAC secrets in characters for text and bytes for bytes', () => {
    expect(MIN_HMAC_SECRET_LENGTH).toBe(32);
    expect(hmacSecretLength('🔑'.repeat(16))).toBe(16);
    expect(hmacSecretLength('é'.repeat(32))).toBe(32);
    expect(hmacSecretLength(new Uint8Array(48))).toBe(48);
  });

  it('bound passwords by bcrypt', () => {
    expect(PASSWORD_BYTE_LIMITS).toEqual({ min: 8, max: 72 });
    expect(Object.isFrozen(PASSWORD_BYTE_LIMITS)).toBe(true);
  });
});
