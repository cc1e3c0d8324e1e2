import { describe, expect, it } from 'vitest';
import { Router } from './index.js';

describe('Router', () => {
  const router = new Router<string>()
    .add('GET', '/api/v1/models', 'list')
    .add('POST', '/api/v1/models', 'create')
    .add('GET', '/api/v1/models/:id', 'get')
    .add('DELETE', '/api/v1/models/:id', 'delete')
    .add('GET', '/api/v1/models/:id/assessments', 'assessments');

  it('matches exact paths and parameters', () => {
    expect(router.match('GET', '/api/v1/models')).toEqual({
      kind: 'found',
      route: 'list',
      params: {},
    });
    expect(router.match('GET', '/api/v1/models/')).toMatchObject({ route: 'list' });
    expect(router.match('GET', '/api/v1/models/a%20b')).toEqual({
      kind: 'found',
      route: 'get',
      params: { id: 'a b' },
    });
    expect(router.match('GET', '/api/v1/models/x/assessments')).toMatchObject({
      route: 'assessments',
      params: { id: 'x' },
    });
    expect(router.match('HEAD', '/api/v1/models')).toMatchObject({ route: 'list' });
  });

  it('tells a wrong method from a missing path', () => {
    expect(router.match('PUT', '/api/v1/models/7')).toEqual({
      kind: 'method-not-allowed',
      allow: ['GET', 'DELETE'],
    });
    expect(router.match('GET', '/api/v2/models')).toEqual({ kind: 'not-found' });
    expect(router.match('GET', '/api/v1/models/x/y')).toEqual({ kind: 'not-found' });
  });

  it('refuses malformed and oversized parameters', () => {
    expect(router.match('GET', '/api/v1/models/%E0%A4%A')).toEqual({ kind: 'not-found' });
    expect(router.match('GET', `/api/v1/models/${'x'.repeat(129)}`)).toEqual({ kind: 'not-found' });
    expect(router.match('GET', '/api/v1/models//assessments')).toEqual({ kind: 'not-found' });
  });
});
