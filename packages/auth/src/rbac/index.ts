import { invalid } from '../errors/index.js';

/** A role as data: its own permissions and the roles it inherits from. */
export interface RoleDefinition {
  /**
   * Permissions as `resource:action`; `resource:*` grants every action on a resource and `*`
   * grants everything.
   * @default []
   */
  permissions?: readonly string[] | undefined;
  /**
   * Roles whose permissions this one also has.
   * @default []
   */
  inherits?: readonly string[] | undefined;
}

/** Role name to definition. */
export type RoleTable = Readonly<Record<string, RoleDefinition>>;

/**
 * Every permission HTTP-API.md names, in its table's order.
 */
export const PERMISSIONS = [
  'models:read',
  'assessments:read',
  'dashboard:read',
  'models:write',
  'assessments:write',
  'models:delete',
  'users:manage',
  'audit:read',
  'apikeys:create',
] as const;

/** One of {@link PERMISSIONS}, or any other `resource:action` an application adds. */
export type Permission = (typeof PERMISSIONS)[number] | (string & {});

/**
 * The four roles of HTTP-API.md as inheritance: a viewer reads; an API user is a viewer who
 * may also write assessments; an analyst writes models and assessments and creates API keys;
 * an admin may do all of that and delete models, manage users and read the audit trail.
 */
export const DEFAULT_ROLES = {
  viewer: { permissions: ['models:read', 'assessments:read', 'dashboard:read'] },
  api_user: { inherits: ['viewer'], permissions: ['assessments:write'] },
  analyst: {
    inherits: ['viewer'],
    permissions: ['models:write', 'assessments:write', 'apikeys:create'],
  },
  admin: {
    inherits: ['analyst'],
    permissions: ['models:*', 'assessments:*', 'users:manage', 'audit:read', 'apikeys:*'],
  },
} as const satisfies RoleTable;

/** A decision and, when denied, why. */
export interface PermissionDecision {
  readonly allowed: boolean;
  /** Why it was denied (for logs and the audit trail), or `undefined`. */
  readonly reason?: string;
}

/** Who is making a request, as `authenticate()` puts it on `exchange.state.auth`. */
export interface Principal {
  /** A user with an access token, or an API key acting for its owner. */
  readonly type: 'user' | 'api_key';
  /** The user id (`sub`); for an API key, its owner's. */
  readonly id: string;
  /** The user's role (for an API key, its owner's current role). */
  readonly role: string;
  /** An API key's scopes; `undefined` means everything the owner's role grants. */
  readonly scopes?: readonly string[] | undefined;
  /** The API key's id. */
  readonly apiKeyId?: string | undefined;
  /** The access token's `jti`. */
  readonly tokenId?: string | undefined;
  /** The refresh family the access token came from. */
  readonly familyId?: string | undefined;
  /** The access token's `iat`, epoch seconds. */
  readonly issuedAt?: number | undefined;
  /** When the credential expires, epoch seconds, or `undefined` for a key without expiry. */
  readonly expiresAt?: number | undefined;
}

/**
 * Whether a list of grants (`resource:action`, `resource:*`, `*`) covers a permission. A
 * wildcard asked for is covered only by the same wildcard or `*`.
 */
export function grantsCover(grants: readonly string[], permission: string): boolean {
  const colon = permission.indexOf(':');
  const resourceWildcard = colon > 0 ? `${permission.slice(0, colon)}:*` : undefined;
  for (const grant of grants) {
    if (grant === '*' || grant === permission || grant === resourceWildcard) return true;
  }
  return false;
}

/** Options of {@link createRbac}. */
export interface RbacOptions {
  /**
   * Roles to add to (or replace among) the defaults, such as
   * `{ auditor: { inherits: ['viewer'], permissions: ['audit:read'] } }`.
   * @default {}
   */
  roles?: RoleTable | undefined;
  /**
   * Start from no roles instead of {@link DEFAULT_ROLES}.
   * @default false
   */
  replaceDefaults?: boolean | undefined;
}

/** Role-based access control over a fixed table, resolved once. */
export interface Rbac {
  /** The role names. */
  readonly roles: readonly string[];
  /** Whether `role` grants `permission`, and why not. An unknown role is denied with a reason. */
  check(role: string, permission: string): PermissionDecision;
  /** Shorthand for `check(role, permission).allowed`. */
  can(role: string, permission: string): boolean;
  /** Every grant of a role after inheritance (wildcards as written), or `undefined` if unknown. */
  grants(role: string): readonly string[] | undefined;
  /** Whether the role exists. */
  has(role: string): boolean;
  /**
   * Whether a principal may do something: its role must grant it and, for an API key, so
   * must the key's scopes.
   */
  checkPrincipal(principal: Principal, permission: string): PermissionDecision;
}

const PERMISSION = /^(?:\*|[a-z][a-z0-9_.-]*:(?:\*|[a-z][a-z0-9_.-]*))$/;
const ROLE_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

interface Resolved {
  readonly all: boolean;
  readonly exact: ReadonlySet<string>;
  /** Resources granted with `resource:*`. */
  readonly resources: ReadonlySet<string>;
  readonly list: readonly string[];
}

/** Whether a permission string is well formed (`resource:action`, `resource:*` or `*`). */
export function isPermission(value: unknown): value is string {
  return typeof value === 'string' && PERMISSION.test(value);
}

/**
 * Builds the RBAC table once: inheritance is flattened and wildcards indexed, so a check is
 * two set lookups. Cycles, unknown parents and malformed permissions are `INVALID_OPTIONS`.
 *
 * @example
 * ```ts
 * const rbac = createRbac({ roles: { auditor: { inherits: ['viewer'], permissions: ['audit:read'] } } });
 * rbac.can('auditor', 'audit:read'); // true
 * rbac.check('ghost', 'models:read'); // { allowed: false, reason: 'unknown role "ghost"' }
 * ```
 */
export function createRbac(options: RbacOptions = {}): Rbac {
  const table = roleTable(options);
  const resolved = resolveRoles(table);

  const check = (role: string, permission: string): PermissionDecision => {
    const entry = typeof role === 'string' ? resolved.get(role) : undefined;
    if (entry === undefined)
      return { allowed: false, reason: `unknown role ${JSON.stringify(role)}` };
    if (entry.all || entry.exact.has(permission)) return { allowed: true };
    const colon = typeof permission === 'string' ? permission.indexOf(':') : -1;
    if (colon > 0 && entry.resources.has(permission.slice(0, colon))) {
      // `models:*` asked for is granted only by `models:*` (or `*`), never by `models:read`.
      return { allowed: true };
    }
    return {
      allowed: false,
      reason: `role ${JSON.stringify(role)} lacks the permission ${JSON.stringify(permission)}`,
    };
  };

  const checkPrincipal = (principal: Principal, permission: string): PermissionDecision => {
    const byRole = check(principal.role, permission);
    if (!byRole.allowed || principal.scopes === undefined) return byRole;
    if (grantsCover(principal.scopes, permission)) return byRole;
    return {
      allowed: false,
      reason: `the API key's scopes do not include ${JSON.stringify(permission)}`,
    };
  };

  return {
    roles: Object.keys(table),
    checkPrincipal,
    check,
    can: (role, permission) => check(role, permission).allowed,
    grants: (role) => resolved.get(role)?.list,
    has: (role) => resolved.has(role),
  };
}

/** The defaults with the options' roles over them, each definition checked. */
function roleTable(options: RbacOptions): Record<string, RoleDefinition> {
  const table: Record<string, RoleDefinition> = options.replaceDefaults ? {} : { ...DEFAULT_ROLES };
  for (const [name, definition] of Object.entries(options.roles ?? {})) table[name] = definition;
  for (const [name, definition] of Object.entries(table)) {
    if (!ROLE_NAME.test(name)) {
      throw invalid(`roles.${name}`, 'is not a role name: use lower-case letters, digits, _ and -');
    }
    if (typeof definition !== 'object' || definition === null) {
      throw invalid(`roles.${name}`, 'must be { permissions?, inherits? }');
    }
    for (const permission of definition.permissions ?? []) {
      if (!isPermission(permission)) {
        throw invalid(
          `roles.${name}.permissions`,
          `holds ${JSON.stringify(permission)}: write resource:action, resource:* or *`,
        );
      }
    }
    for (const parent of definition.inherits ?? []) {
      if (!Object.hasOwn(table, parent)) {
        throw invalid(`roles.${name}.inherits`, `names the unknown role ${JSON.stringify(parent)}`);
      }
    }
  }
  return table;
}

/** Every role with its inheritance flattened and its wildcards indexed; a cycle throws. */
function resolveRoles(table: Readonly<Record<string, RoleDefinition>>): Map<string, Resolved> {
  const resolved = new Map<string, Resolved>();
  const resolve = (name: string, path: readonly string[]): Resolved => {
    const done = resolved.get(name);
    if (done) return done;
    if (path.includes(name)) {
      throw invalid('roles', `inherit in a cycle: ${[...path, name].join(' -> ')}`);
    }
    const definition = table[name] as RoleDefinition;
    const list = new Set<string>(definition.permissions ?? []);
    for (const parent of definition.inherits ?? []) {
      for (const permission of resolve(parent, [...path, name]).list) list.add(permission);
    }
    const exact = new Set<string>();
    const resources = new Set<string>();
    for (const permission of list) {
      if (permission.endsWith(':*')) resources.add(permission.slice(0, -2));
      else exact.add(permission);
    }
    const entry: Resolved = { all: list.has('*'), exact, resources, list: [...list] };
    resolved.set(name, entry);
    return entry;
  };
  for (const name of Object.keys(table)) resolve(name, []);
  return resolved;
}
