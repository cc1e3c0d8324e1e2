import { FairmindError } from '@fairmind/core';
import { PREFIX } from '../errors/index.js';

/** A user as the stores keep it. Only the password's bcrypt hash is ever stored. */
export interface UserRecord {
  readonly id: string;
  /** Trimmed and lower-cased ({@link normaliseEmail}). */
  readonly email: string;
  readonly passwordHash: string;
  readonly role: string;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  /** Epoch milliseconds. */
  readonly updatedAt: number;
  /**
   * When an administrator disabled the account (epoch milliseconds): it cannot sign in, and
   * its tokens and API keys stop working. `null` or absent: enabled.
   */
  readonly disabledAt?: number | null | undefined;
}

/** The changes {@link UserStore.update} applies. */
export interface UserChanges {
  readonly passwordHash?: string;
  readonly role?: string;
  /** A time disables the account; `null` enables it again. */
  readonly disabledAt?: number | null;
  readonly updatedAt: number;
}

/** Where users live. */
export interface UserStore {
  findByEmail(email: string): Promise<UserRecord | null>;
  findById(id: string): Promise<UserRecord | null>;
  /** Adds a user; a taken email is a 409 `CONFLICT`. */
  create(user: UserRecord): Promise<void>;
  /** Resolves `false` when there is no such user. */
  update(id: string, changes: UserChanges): Promise<boolean>;
  /** Resolves `false` when there is no such user. */
  delete(id: string): Promise<boolean>;
  /** How many users exist (the platform creates the first admin when there are none). */
  count(): Promise<number>;
}

/** Emails compare without case and surrounding blanks. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** The 409 for a taken email; the email itself is not repeated back. */
export function emailTaken(cause?: unknown): FairmindError {
  return new FairmindError(
    'CONFLICT',
    409,
    `${PREFIX} a user with this email already exists: sign in, or choose another email`,
    cause === undefined ? {} : { cause },
  );
}

/**
 * Users in this process's memory, for development and tests.
 *
 * @example
 * ```ts
 * const auth = createAuth({ secret, users: createMemoryUserStore() });
 * ```
 */
export function createMemoryUserStore(): UserStore {
  const byId = new Map<string, UserRecord>();
  const byEmail = new Map<string, string>();
  return {
    async findByEmail(email) {
      const id = byEmail.get(normaliseEmail(email));
      return id === undefined ? null : (byId.get(id) ?? null);
    },
    async findById(id) {
      return byId.get(id) ?? null;
    },
    async create(user) {
      const email = normaliseEmail(user.email);
      if (byEmail.has(email)) throw emailTaken();
      byId.set(user.id, { ...user, email });
      byEmail.set(email, user.id);
    },
    async update(id, changes) {
      const user = byId.get(id);
      if (user === undefined) return false;
      byId.set(id, { ...user, ...changes });
      return true;
    },
    async delete(id) {
      const user = byId.get(id);
      if (user === undefined) return false;
      byId.delete(id);
      byEmail.delete(user.email);
      return true;
    },
    async count() {
      return byId.size;
    },
  };
}
