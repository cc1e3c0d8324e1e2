import { createRouteContext } from '@fairmind/edge';
import { describe, expect, it } from 'vitest';
import { listQuery } from './index.js';

function context(url: string) {
  return createRouteContext({
    exchange: {
      request: { method: 'GET', url, headers: { get: () => null } },
      clientAddress: '127.0.0.1',
      secure: false,
      state: {},
    },
    params: {},
    source: undefined as never,
  });
}

describe('listQuery', () => {
  it('parses each distinct query once, and answers it the same way every time', () => {
    const first = listQuery(context('/api/v1/models?limit=5'));
    expect(first).toEqual({ limit: 5 });
    expect(Object.isFrozen(first)).toBe(true);
    expect(listQuery(context('/api/v1/other?limit=5'))).toBe(first);
    expect(listQuery(context('/api/v1/models'))).toEqual({ limit: 20 });
    expect(listQuery(context('/api/v1/models?limit=5&cursor=abc'))).toEqual({
      limit: 5,
      cursor: 'abc',
    });
    // More distinct queries than are kept: each still parsed as a first one would be.
    for (let limit = 1; limit <= 100; limit++) {
      for (const cursor of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k']) {
        expect(listQuery(context(`/m?limit=${limit}&cursor=${cursor}`))).toEqual({ limit, cursor });
      }
    }
  });

  it('refuses a bad query with a 400 every time it comes', () => {
    for (const url of ['/m?limit=0', '/m?limit=0', '/m?limit=5&limit=6', '/m?other=1']) {
      expect(() => listQuery(context(url))).toThrow(expect.objectContaining({ status: 400 }));
    }
  });
});
