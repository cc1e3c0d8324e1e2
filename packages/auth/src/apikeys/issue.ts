import { forbidden, validationFailed } from '../errors/index.js';
import { isPermission, type Rbac } from '../rbac/index.js';
import type { ApiKeyContext } from './context.js';
import { generateApiKey } from './format.js';
import type { ApiKeyRecord, CreateApiKeyInput } from './index.js';

/** The scopes to store: `null` for all of the role's, else each one checked against the role. */
function checkScopes(
  rbac: Rbac,
  role: string,
  scopes: readonly string[] | null | undefined,
): readonly string[] | null {
  if (scopes === null || scopes === undefined) return null;
  if (!Array.isArray(scopes) || scopes.length === 0 || scopes.length > 100) {
    throw validationFailed(
      'scopes must be a list of 1 to 100 permissions, or left out for all of yours',
    );
  }
  for (const scope of scopes) {
    if (!isPermission(scope)) {
      throw validationFailed(
        `scope ${JSON.stringify(scope)} is not a permission such as models:read`,
      );
    }
    const decision = rbac.check(role, scope);
    if (!decision.allowed) {
      throw forbidden(
        `the scope ${JSON.stringify(scope)} is outside your own permissions (${decision.reason})`,
      );
    }
  }
  return [...new Set(scopes)];
}

/** A new key: checked, stored as its hash, and returned whole this once. */
export async function issueApiKey(
  context: ApiKeyContext,
  input: CreateApiKeyInput,
): Promise<{ key: string; record: ApiKeyRecord }> {
  const { rbac } = context;
  const name = typeof input.name === 'string' ? input.name.trim() : '';
  if (name.length === 0 || name.length > 100) {
    throw validationFailed('an API key needs a name of 1 to 100 characters');
  }
  if (!rbac.has(input.ownerRole)) {
    throw forbidden(`unknown role ${JSON.stringify(input.ownerRole)} cannot own API keys`);
  }
  const scopes = checkScopes(rbac, input.ownerRole, input.scopes);
  const createdAt = context.now();
  const expiresAt = input.expiresAt ?? null;
  if (expiresAt !== null && (!Number.isFinite(expiresAt) || expiresAt <= createdAt)) {
    throw validationFailed('an API key must expire in the future');
  }
  const { key, prefix, id, secret } = generateApiKey(context.label);
  const record: ApiKeyRecord = {
    id,
    ownerId: input.ownerId,
    name,
    prefix,
    secretHash: context.secrets.hash(secret),
    scopes,
    createdAt,
    expiresAt,
    revokedAt: null,
    lastUsedAt: null,
  };
  await context.store.insert(record);
  return { key, record };
}
