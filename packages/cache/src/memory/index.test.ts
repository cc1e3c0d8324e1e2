import { describe, expect, it } from 'vitest';
import { Memory, type MemoryEntry } from './index.js';

function entry(size: number): MemoryEntry {
  return {
    value: 'v',
    tagged: false,
    createdAt: 0,
    expiresAt: 1,
    staleUntil: 1,
    tags: undefined,
    trust: -1,
    size,
    read: false,
  };
}

describe('Memory', () => {
  it('evicts the least recently used entry past maxEntries', () => {
    const memory = new Memory({ maxEntries: 2, maxBytes: 1_000 });
    memory.set('a', entry(10));
    memory.set('b', entry(10));
    memory.get('a');
    memory.set('c', entry(10));
    expect(memory.get('b')).toBeUndefined();
    expect(memory.get('a')).toBeDefined();
    expect(memory.entries).toBe(2);
  });

  it('keeps the byte total within maxBytes and refuses an entry larger than it', () => {
    const memory = new Memory({ maxEntries: 100, maxBytes: 250 });
    for (const key of ['a', 'b', 'c']) memory.set(key, entry(100));
    expect(memory.bytes).toBe(200);
    expect(memory.get('a')).toBeUndefined();
    memory.set('b', entry(300));
    expect(memory.get('b')).toBeUndefined();
    expect(memory.bytes).toBe(100);
  });

  it('clears everything or one prefix', () => {
    const memory = new Memory({ maxEntries: 10, maxBytes: 1_000 });
    for (const key of ['users:1', 'users:2', 'models:1']) memory.set(key, entry(1));
    memory.clear('users:');
    expect(memory.entries).toBe(1);
    expect(memory.get('models:1')).toBeDefined();
    memory.clear();
    expect(memory.entries).toBe(0);
  });

  it('sizes entries by JSON length, key and overhead', () => {
    expect(Memory.sizeOf('key', 10)).toBe(96 + 6 + 10);
  });
});
