import { describe, expect, it } from 'vitest';
import { createRbac, DEFAULT_ROLES, grantsCover, PERMISSIONS } from './index.js';

// The table of HTTP-API.md, row by row: permission -> [admin, analyst, viewer, api_user].
const MATRIX: Record<(typeof PERMISSIONS)[number], [boolean, boolean, boolean, boolean]> = {
  'models:read': [true, true, true, true],
  'assessments:read': [true, true, true, true],
  'dashboard:read': [true, true, true, true],
  'models:write': [true, true, false, false],
  'assessments:write': [true, true, false, true],
  'models:delete': [true, false, false, false],
  'users:manage': [true, false, false, false],
  'audit:read': [true, false, false, false],
  'apikeys:create': [true, true, false, false],
};
const ROLES = ['admin', 'analyst', 'viewer', 'api_user'] as const;

describe('the HTTP-API.md matrix', () => {
  const rbac = createRbac();
  it('covers every permission of the table', () => {
    expect(Object.keys(MATRIX).sort()).toEqual([...PERMISSIONS].sort());
    expect([...rbac.roles].sort()).toEqual([...ROLES].sort());
  });
  for (const permission of PERMISSIONS) {
    ROLES.forEach((role, column) => {
      const expected = MATRIX[permission][column];
      it(`${role} ${expected ? 'may' : 'may not'} ${permission}`, () => {
        const decision = rbac.check(role, permission);
        expect(decision.allowed).toBe(expected);
        if (!expected)
          expect(decision.reason).toBe(`role "${role}" lacks the permission "${permission}"`);
      });
    });
  }
});

describe('roles as data', () => {
  it('denies an unknown role with a reason', () => {
    expect(createRbac().check('superuser', 'models:read')).toEqual({
      allowed: false,
      reason: 'unknown role "superuser"',
    });
  });

  it('adds custom roles with inheritance and wildcards', () => {
    const rbac = createRbac({
      roles: {
        auditor: { inherits: ['viewer'], permissions: ['audit:read'] },
        modeller: { permissions: ['models:*'] },
        root: { permissions: ['*'] },
        lead: { inherits: ['auditor', 'modeller'] },
      },
    });
    expect(rbac.can('auditor', 'audit:read')).toBe(true);
    expect(rbac.can('auditor', 'models:read')).toBe(true);
    expect(rbac.can('auditor', 'models:write')).toBe(false);
    expect(rbac.can('modeller', 'models:anything')).toBe(true);
    expect(rbac.can('modeller', 'models:*')).toBe(true);
    expect(rbac.can('modeller', 'assessments:read')).toBe(false);
    expect(rbac.can('lead', 'models:delete')).toBe(true);
    expect(rbac.can('lead', 'audit:read')).toBe(true);
    expect(rbac.can('root', 'reports:export')).toBe(true);
    // A wildcard asked for needs the wildcard: models:read does not grant models:*.
    expect(rbac.can('viewer', 'models:*')).toBe(false);
    expect(rbac.grants('lead')).toEqual(
      expect.arrayContaining(['audit:read', 'models:*', 'models:read']),
    );
  });

  it('replaces the defaults when asked, and overrides one role', () => {
    expect(
      createRbac({ replaceDefaults: true, roles: { only: { permissions: ['a:b'] } } }).roles,
    ).toEqual(['only']);
    const rbac = createRbac({ roles: { viewer: { permissions: ['dashboard:read'] } } });
    expect(rbac.can('viewer', 'models:read')).toBe(false);
    expect(rbac.can('api_user', 'models:read')).toBe(false);
    expect(DEFAULT_ROLES.viewer.permissions).toContain('models:read');
  });

  it('refuses cycles, unknown parents, bad names and bad permissions at creation', () => {
    expect(() => createRbac({ roles: { a: { inherits: ['b'] }, b: { inherits: ['a'] } } })).toThrow(
      /cycle/,
    );
    expect(() => createRbac({ roles: { a: { inherits: ['ghost'] } } })).toThrow(
      /unknown role "ghost"/,
    );
    expect(() => createRbac({ roles: { 'Bad Name': {} } })).toThrow(/not a role name/);
    expect(() => createRbac({ roles: { a: { permissions: ['models'] } } })).toThrow(
      /resource:action/,
    );
  });

  it('limits an API key principal to its scopes', () => {
    const rbac = createRbac();
    const key = { type: 'api_key', id: 'u', role: 'analyst', scopes: ['models:*'] } as const;
    expect(rbac.checkPrincipal(key, 'models:write').allowed).toBe(true);
    expect(rbac.checkPrincipal(key, 'assessments:write').reason).toMatch(/scopes/);
    expect(rbac.checkPrincipal({ ...key, role: 'viewer' }, 'models:write').reason).toMatch(/lacks/);
    expect(
      rbac.checkPrincipal({ type: 'user', id: 'u', role: 'viewer' }, 'models:read').allowed,
    ).toBe(true);
    expect(grantsCover(['*'], 'x:y')).toBe(true);
    expect(grantsCover(['x:z'], 'x:y')).toBe(false);
  });
});
