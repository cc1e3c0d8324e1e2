import { describe, expect, it } from 'vitest';
import { compilePaths } from './index.js';

describe('compilePaths', () => {
  it('matches exact paths, subtrees and prefixes', () => {
    const matches = compilePaths('test', 'paths', ['/metrics', '/api/*', '/health*']);
    for (const path of [
      '/metrics',
      '/api',
      '/api/',
      '/api/v1/models',
      '/health',
      '/health/live',
      '/healthz',
    ]) {
      expect(matches(path), path).toBe(true);
    }
    for (const path of ['/metrics/x', '/apix', '/ap', '/', '/auth/login', '/v1/api']) {
      expect(matches(path), path).toBe(false);
    }
  });

  it('matches everything with *, and nothing with an empty list', () => {
    expect(compilePaths('test', 'paths', ['/a', '*'])('/anything')).toBe(true);
    expect(compilePaths('test', 'paths', [])('/a')).toBe(false);
  });

  it('refuses a pattern without a leading slash, naming the option', () => {
    expect(() => compilePaths('rateLimit', 'excludePaths', ['health'])).toThrow(
      /\[@fairmind\/edge\] rateLimit: excludePaths entries must be '\*' or start with '\/'/,
    );
  });
});
