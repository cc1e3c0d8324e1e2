import { tokenExpired, tokenInvalid, tokenRevoked } from '../errors/index.js';
import type { Principal } from '../rbac/index.js';
import type { ApiKeyContext } from './context.js';
import { parseApiKey } from './format.js';

/**
 * The principal of a key. The checksum turns typos away before the store is asked; the secret
 * is compared in constant time even for an unknown id; the owner's current role is looked up
 * on every use, so a demotion or a deletion takes effect at once.
 */
export async function verifyApiKey(
  context: ApiKeyContext,
  key: string,
): Promise<Principal & { readonly apiKeyId: string }> {
  const parts = parseApiKey(key);
  if (parts === undefined) {
    throw tokenInvalid('the API key is malformed or mistyped (its checksum does not match)');
  }
  const record = await context.store.findById(parts.id);
  if (!context.secrets.matches(parts.secret, record?.secretHash) || record === null) {
    throw tokenInvalid('the API key is not known');
  }
  const at = context.now();
  if (record.revokedAt !== null) throw tokenRevoked('the API key');
  if (record.expiresAt !== null && record.expiresAt <= at) throw tokenExpired('the API key');
  const role = await context.roleOf(record.ownerId);
  if (role === null) {
    throw tokenRevoked("the API key's owner no longer exists or is disabled, so the API key");
  }
  const { rateLimit } = context;
  await rateLimit?.(record);
  context.lastUse.touch(record, at);
  return {
    type: 'api_key',
    id: record.ownerId,
    role,
    scopes: record.scopes ?? undefined,
    apiKeyId: record.id,
    expiresAt: record.expiresAt === null ? undefined : Math.floor(record.expiresAt / 1000),
  };
}
