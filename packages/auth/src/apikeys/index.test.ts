import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { createRbac } from '../rbac/index.js';
import { rejection } from '../testing/index.js';
import {
  type ApiKeyManagerOptions,
  apiKeyChecksum,
  createApiKeyManager,
  createMemoryApiKeyStore,
  parseApiKey,
} from './index.js';

const rbac = createRbac();

function setup(options: Partial<ApiKeyManagerOptions> = {}) {
  let current = 1_800_000_000_000;
  const store = createMemoryApiKeyStore();
  const roles = new Map([['owner', 'analyst']]);
  const manager = createApiKeyManager({
    store,
    rbac,
    roleOf: (id) => roles.get(id) ?? null,
    now: () => current,
    ...options,
  });
  return { manager, store, roles, advance: (ms: number) => (current += ms) };
}

describe('key format', () => {
  it("is fm_<prefix>_<id>_<secret><checksum>, and only the secret's hash is stored", async () => {
    const { manager, store } = setup();
    const { key, record } = await manager.create({
      ownerId: 'owner',
      ownerRole: 'analyst',
      name: 'CI',
    });
    expect(key).toMatch(/^fm_live_[0-9A-Za-z]{16}_[0-9A-Za-z]{38}$/);
    const parts = parseApiKey(key);
    expect(parts?.prefix).toBe(record.prefix);
    expect(record.prefix).toBe(`fm_live_${record.id}`);
    const stored = await store.findById(record.id);
    expect(JSON.stringify(stored)).not.toContain(parts?.secret);
    expect(stored?.secretHash).toBe(
      createHash('sha256')
        .update(parts?.secret ?? '')
        .digest('hex'),
    );
  });

  it('stores an HMAC with the pepper when one is configured', async () => {
    const { manager } = setup({ pepper: 'server-side-pepper', prefix: 'test' });
    const { key, record } = await manager.create({
      ownerId: 'owner',
      ownerRole: 'analyst',
      name: 'CI',
    });
    expect(key.startsWith('fm_test_')).toBe(true);
    const secret = parseApiKey(key)?.secret ?? '';
    expect(record.secretHash).toBe(
      createHmac('sha256', 'server-side-pepper').update(secret).digest('hex'),
    );
    await expect(manager.verify(key)).resolves.toMatchObject({ apiKeyId: record.id });
  });

  it('turns a typo away by its checksum, without a lookup', async () => {
    const { manager, store } = setup();
    const { key } = await manager.create({ ownerId: 'owner', ownerRole: 'analyst', name: 'CI' });
    const spy = vi.spyOn(store, 'findById');
    const position = key.length - 10;
    const typo =
      key.slice(0, position) + (key[position] === 'a' ? 'b' : 'a') + key.slice(position + 1);
    expect((await rejection(manager.verify(typo))).message).toMatch(/checksum/);
    expect((await rejection(manager.verify(`${key} `))).code).toBe('TOKEN_INVALID');
    expect(spy).not.toHaveBeenCalled();
    expect(apiKeyChecksum('fm_live_x')).toMatch(/^[0-9A-Za-z]{6}$/);
  });

  it('refuses a well-formed key with the wrong secret, compared in constant time', async () => {
    const { manager } = setup();
    const { key, record } = await manager.create({
      ownerId: 'owner',
      ownerRole: 'analyst',
      name: 'CI',
    });
    const body = `fm_live_${record.id}_${'A'.repeat(32)}`;
    const forged = body + apiKeyChecksum(body);
    expect((await rejection(manager.verify(forged))).message).toMatch(/not known/);
    const unknownBody = `fm_live_${'B'.repeat(16)}_${'A'.repeat(32)}`;
    expect(
      (await rejection(manager.verify(unknownBody + apiKeyChecksum(unknownBody)))).message,
    ).toMatch(/not known/);
    await expect(manager.verify(key)).resolves.toMatchObject({
      type: 'api_key',
      id: 'owner',
      role: 'analyst',
    });
  });
});

describe('lifecycle', () => {
  it("expires, revokes, and follows the owner's current role", async () => {
    const { manager, roles, advance } = setup();
    const { key, record } = await manager.create({
      ownerId: 'owner',
      ownerRole: 'analyst',
      name: 'short-lived',
      expiresAt: 1_800_000_000_000 + 60_000,
    });
    roles.set('owner', 'viewer');
    await expect(manager.verify(key)).resolves.toMatchObject({
      role: 'viewer',
      expiresAt: 1_800_000_060,
    });
    roles.delete('owner');
    expect((await rejection(manager.verify(key))).code).toBe('TOKEN_REVOKED');
    roles.set('owner', 'analyst');
    advance(60_000);
    expect((await rejection(manager.verify(key))).code).toBe('TOKEN_EXPIRED');

    const other = await manager.create({ ownerId: 'owner', ownerRole: 'analyst', name: 'other' });
    await expect(manager.revoke(other.record.id, 'someone-else')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    const revoked = await manager.revoke(other.record.id, 'owner');
    expect(revoked.revokedAt).not.toBeNull();
    expect((await rejection(manager.verify(other.key))).code).toBe('TOKEN_REVOKED');
    expect((await manager.list('owner')).map((item) => item.id).sort()).toEqual(
      [record.id, other.record.id].sort(),
    );
  });

  it("keeps scopes within the owner's permissions", async () => {
    const { manager } = setup();
    const create = (scopes: string[], name = 'k') =>
      manager.create({ ownerId: 'owner', ownerRole: 'analyst', name, scopes });
    await expect(create(['models:write', 'models:read'])).resolves.toBeDefined();
    const refused: Array<[string[], string]> = [
      [['models:delete'], 'FORBIDDEN'],
      [['models:*'], 'FORBIDDEN'],
      [['nonsense'], 'VALIDATION_FAILED'],
    ];
    for (const [scopes, code] of refused) {
      expect((await rejection(create(scopes))).code, scopes.join()).toBe(code);
    }
    expect((await rejection(create(['models:read'], ''))).code).toBe('VALIDATION_FAILED');
  });

  it('writes lastUsedAt at most once per interval', async () => {
    const { manager, store, advance } = setup({ lastUsedIntervalMs: 60_000 });
    const { key, record } = await manager.create({
      ownerId: 'owner',
      ownerRole: 'analyst',
      name: 'busy',
    });
    const touch = vi.spyOn(store, 'touch');
    for (let request = 0; request < 50; request++) await manager.verify(key);
    expect(touch).toHaveBeenCalledTimes(1);
    advance(30_000);
    await manager.verify(key);
    expect(touch).toHaveBeenCalledTimes(1);
    advance(30_000);
    await manager.verify(key);
    expect(touch).toHaveBeenCalledTimes(2);
    expect((await store.findById(record.id))?.lastUsedAt).toBe(1_800_000_060_000);
  });

  it('calls the rate-limit hook, which may refuse the request', async () => {
    const seen: string[] = [];
    const { manager } = setup({
      rateLimit(record) {
        seen.push(record.id);
        if (seen.length > 2) {
          throw Object.assign(new Error('slow down'), { code: 'RATE_LIMITED', status: 429 });
        }
      },
    });
    const { key, record } = await manager.create({
      ownerId: 'owner',
      ownerRole: 'analyst',
      name: 'limited',
    });
    await manager.verify(key);
    await manager.verify(key);
    await expect(manager.verify(key)).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(seen).toEqual([record.id, record.id, record.id]);
  });

  it('refuses bad options at creation', () => {
    const store = createMemoryApiKeyStore();
    const roleOf = () => 'viewer';
    expect(() => createApiKeyManager({ store, rbac, roleOf, prefix: 'Live!' })).toThrow(/prefix/);
    expect(() => createApiKeyManager({ store, rbac, roleOf, pepper: '' })).toThrow(/pepper/);
    expect(() => createApiKeyManager({ store, rbac, roleOf, lastUsedIntervalMs: -1 })).toThrow(
      /lastUsedIntervalMs/,
    );
  });
});
