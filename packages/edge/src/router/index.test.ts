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
  it('answers a path without parameters from its kept match, and every other path afresh', () => {
    const router = new Router<string>()
      .add('GET', '/notes/:id', 'note')
      .add('GET', '/notes', 'list')
      .add('POST', '/notes', 'create');
    const first = router.match('GET', '/notes');
    expect(first).toEqual({ kind: 'found', route: 'list', params: {} });
    expect(Object.isFrozen(first)).toBe(true);
    expect(router.match('GET', '/notes')).toBe(first);
    expect(router.match('POST', '/notes')).toMatchObject({ route: 'create' });
    expect(router.match('HEAD', '/notes/')).toMatchObject({ route: 'list' });
    // Parameters are the client's: each match gets its own.
    const one = router.match('GET', '/notes/1');
    expect(one).toEqual({ kind: 'found', route: 'note', params: { id: '1' } });
    expect(router.match('GET', '/notes/1')).not.toBe(one);
    expect(router.match('DELETE', '/notes')).toEqual({
      kind: 'method-not-allowed',
      allow: ['GET', 'POST'],
    });
    // More distinct paths than are kept: each still matched as a first one would be.
    const many = new Router<string>();
    for (let index = 0; index < 3_000; index++) many.add('GET', `/p${index}`, `r${index}`);
    for (let round = 0; round < 2; round++) {
      for (let index = 0; index < 3_000; index += 7) {
        expect(many.match('GET', `/p${index}`)).toMatchObject({ route: `r${index}` });
      }
    }
    expect(many.match('GET', '/p3000')).toEqual({ kind: 'not-found' });
  });
});
