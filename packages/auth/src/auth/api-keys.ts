import { toIsoTime, wholeNumberRule } from '@fairmind/core';
import type { ApiKeyManager, ApiKeyRecord } from '../apikeys/index.js';
import { forbidden, invalid, validationFailed } from '../errors/index.js';
import type { Principal } from '../rbac/index.js';
import type { AuthContext } from './context.js';
import type { ApiKeyView, Auth, RequestContext } from './index.js';

const EXPIRY_DAYS = wholeNumberRule({ min: 1, max: 3650 });

function iso(ms: number | null): string | null {
  return ms === null ? null : toIsoTime(ms);
}

function view(record: ApiKeyRecord): ApiKeyView {
  return {
    id: record.id,
    name: record.name,
    prefix: record.prefix,
    scopes: record.scopes,
    expiresAt: iso(record.expiresAt),
    createdAt: new Date(record.createdAt).toISOString(),
    lastUsedAt: iso(record.lastUsedAt),
    revokedAt: iso(record.revokedAt),
  };
}

/** What {@link createApiKeyAdmin} needs besides the context. */
export interface ApiKeyAdminDeps extends Pick<AuthContext, 'now' | 'apiKeys' | 'audit'> {
  readonly check: Auth['check'];
}

/** A principal's own API keys: made within its permissions, listed, revoked. */
export function createApiKeyAdmin(
  deps: ApiKeyAdminDeps,
): Pick<Auth, 'createApiKey' | 'listApiKeys' | 'revokeApiKey'> {
  const { now, apiKeys, audit, check } = deps;

  function requireApiKeys(): ApiKeyManager {
    if (apiKeys === undefined) throw invalid('apiKeys', 'is required for API keys (with users)');
    return apiKeys;
  }

  async function createApiKey(
    principal: Principal,
    input: {
      name: string;
      scopes?: readonly string[] | undefined;
      expiresInDays?: number | undefined;
    },
    context: RequestContext = {},
  ) {
    const manager = requireApiKeys();
    const allowed = check(principal, 'apikeys:create');
    if (!allowed.allowed)
      throw forbidden(`you need the permission "apikeys:create": ${allowed.reason}`);
    // A key made with a key may not reach past that key's own scopes.
    for (const scope of input.scopes ?? principal.scopes ?? []) {
      const decision = check(principal, scope);
      if (!decision.allowed)
        throw forbidden(
          `the scope ${JSON.stringify(scope)} is outside your permissions: ${decision.reason}`,
        );
    }
    const days = input.expiresInDays;
    // A request's input, so a 400 rather than INVALID_OPTIONS, with the shared rule's words.
    if (days !== undefined && !EXPIRY_DAYS.accepts(days)) {
      throw validationFailed(`expiresInDays must be ${EXPIRY_DAYS.expected}`);
    }
    const { key, record } = await manager.create({
      ownerId: principal.id,
      ownerRole: principal.role,
      name: input.name,
      scopes: input.scopes ?? principal.scopes ?? null,
      expiresAt: days === undefined ? null : now() + days * 86_400_000,
    });
    await audit('apikey.created', {
      actorId: principal.id,
      ip: context.ip,
      details: {
        apiKeyId: record.id,
        name: record.name,
        scopes: record.scopes === null ? null : [...record.scopes],
      },
    });
    return { ...view(record), key };
  }

  return {
    createApiKey,
    async listApiKeys(principal) {
      return (await requireApiKeys().list(principal.id)).map(view);
    },
    async revokeApiKey(principal, id, context = {}) {
      await requireApiKeys().revoke(id, principal.id);
      await audit('apikey.revoked', {
        actorId: principal.id,
        ip: context.ip,
        details: { apiKeyId: id },
      });
    },
  };
}
