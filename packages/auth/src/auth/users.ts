import { randomUUID } from 'node:crypto';
import { FairmindError, toIsoTime } from '@fairmind/core';
import { z } from 'zod';
import { invalid, PREFIX, validationFailed } from '../errors/index.js';
import { checkNewPassword } from '../passwords/index.js';
import { normaliseEmail, type UserRecord, type UserStore } from '../users/index.js';
import type { AuthContext } from './context.js';
import type { Auth, PublicUser, RequestContext } from './index.js';

const emailSchema = z.email();

/** The user store, or the error that says logins and user management need one. */
export function requireUsers(users: UserStore | undefined): UserStore {
  if (users === undefined) throw invalid('users', 'is required for logins and user management');
  return users;
}

function publicUser(user: UserRecord): PublicUser {
  return {
    id: user.id,
    email: user.email,
    role: user.role,
    createdAt: toIsoTime(user.createdAt),
  };
}

const noSuchUser = () =>
  new FairmindError('NOT_FOUND', 404, `${PREFIX} no such user: check the id`);

/** What {@link createUserAdmin} needs besides the context. */
export interface UserAdminDeps
  extends Pick<AuthContext, 'now' | 'rbac' | 'passwords' | 'users' | 'audit'> {
  readonly logoutEverywhere: Auth['logoutEverywhere'];
}

/** Adding, changing and removing users; a change or a removal ends the user's sessions. */
export function createUserAdmin(
  deps: UserAdminDeps,
): Pick<Auth, 'createUser' | 'updateUser' | 'deleteUser'> {
  const { now, rbac, passwords, users, audit, logoutEverywhere } = deps;

  async function createUser(
    input: { email: string; password: string; role: string },
    context: RequestContext & { actorId?: string } = {},
  ): Promise<PublicUser> {
    const store = requireUsers(users);
    const { email, password, role } = input ?? {};
    if (typeof email !== 'string' || !emailSchema.safeParse(email.trim()).success) {
      throw validationFailed('email must be an email address such as ada@example.com');
    }
    if (typeof role !== 'string' || !rbac.has(role)) throw unknownRole(rbac);
    checkNewPassword(password);
    const at = now();
    const user: UserRecord = {
      id: randomUUID(),
      email: normaliseEmail(email),
      passwordHash: await passwords.hash(password),
      role,
      createdAt: at,
      updatedAt: at,
    };
    await store.create(user);
    await audit('user.created', {
      actorId: context.actorId ?? null,
      ip: context.ip,
      details: { userId: user.id, role },
    });
    return publicUser(user);
  }

  async function updateUser(
    id: string,
    changes: { role?: string; password?: string; disabled?: boolean },
    context: RequestContext & { actorId?: string } = {},
  ): Promise<PublicUser> {
    const store = requireUsers(users);
    const current = await store.findById(id);
    if (current === null) throw noSuchUser();
    const { update, fields } = await userUpdate(deps, changes);
    await store.update(id, update);
    // Tokens carry the role, so a role change must not leave old tokens with the old one.
    await logoutEverywhere(id, context);
    await audit('user.updated', {
      actorId: context.actorId ?? null,
      ip: context.ip,
      details: { userId: id, fields },
    });
    return publicUser({ ...current, ...update });
  }

  async function deleteUser(id: string, context: RequestContext & { actorId?: string } = {}) {
    const store = requireUsers(users);
    if (!(await store.delete(id))) throw noSuchUser();
    await logoutEverywhere(id, context);
    await audit('user.deleted', {
      actorId: context.actorId ?? null,
      ip: context.ip,
      details: { userId: id },
    });
  }

  return { createUser, updateUser, deleteUser };
}

const unknownRole = (rbac: UserAdminDeps['rbac']) =>
  validationFailed(`role must be one of ${rbac.roles.join(', ')}`);

type UserUpdate = {
  role?: string;
  passwordHash?: string;
  disabledAt?: number | null;
  updatedAt: number;
};

/** The store update a change asks for, and the names of the fields it changes (for the audit). */
async function userUpdate(
  deps: Pick<UserAdminDeps, 'now' | 'rbac' | 'passwords'>,
  changes: { role?: string; password?: string; disabled?: boolean },
): Promise<{ update: UserUpdate; fields: string[] }> {
  const { now, rbac, passwords } = deps;
  const fields: string[] = [];
  const update: UserUpdate = { updatedAt: now() };
  if (changes.role !== undefined) {
    if (!rbac.has(changes.role)) throw unknownRole(rbac);
    update.role = changes.role;
    fields.push('role');
  }
  if (changes.password !== undefined) {
    update.passwordHash = await passwords.hash(changes.password);
    fields.push('password');
  }
  if (changes.disabled !== undefined) {
    if (typeof changes.disabled !== 'boolean')
      throw validationFailed('disabled must be true or false');
    // Disabling ends every session (updateUser logs the user out everywhere on any change).
    update.disabledAt = changes.disabled ? update.updatedAt : null;
    fields.push('disabled');
  }
  if (fields.length === 0) {
    throw validationFailed('give a role, a password or disabled to change');
  }
  return { update, fields };
}
