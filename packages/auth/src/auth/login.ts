import { FairmindError } from '@fairmind/core';
import { describe, PREFIX, validationFailed } from '../errors/index.js';
import { normaliseEmail, type UserStore } from '../users/index.js';
import type { AuthContext } from './context.js';
import type { Auth, LoginResult, RequestContext, TokenPair } from './index.js';
import { requireUsers } from './users.js';

/** What {@link createLogin} needs besides the context. */
export interface LoginDeps
  extends Pick<
    AuthContext,
    'now' | 'logger' | 'passwords' | 'users' | 'throttle' | 'metrics' | 'audit'
  > {
  readonly issueTokens: (user: { id: string; role: string }) => Promise<TokenPair>;
}

const invalidCredentials = () =>
  new FairmindError('INVALID_CREDENTIALS', 401, `${PREFIX} the email or password is wrong`);

/** Sign-in by email and password, with its lockout, its metrics and its audit trail. */
export function createLogin(deps: LoginDeps): Pick<Auth, 'login'> {
  const { now, logger, passwords, users, throttle, audit, issueTokens } = deps;
  const { logins } = deps.metrics;

  async function login(
    credentials: { email: string; password: string },
    context: RequestContext = {},
  ): Promise<LoginResult> {
    const store = requireUsers(users);
    const { email, password } = credentials ?? {};
    if (typeof email !== 'string' || typeof password !== 'string' || email.length > 320) {
      throw validationFailed('send { "email": string, "password": string }');
    }
    try {
      return await attemptLogin(store, normaliseEmail(email), password, context);
    } catch (error) {
      // A store that could not be reached is neither a failure nor a lockout: the audit trail
      // says so, and the client gets the 503 with Retry-After.
      if ((error as { code?: unknown }).code === 'AUTH_STORE_UNAVAILABLE') {
        logins?.inc({ outcome: 'unavailable' });
        await audit('login.unavailable', {
          ip: context.ip,
          details: { reason: (error as Error).message },
        });
      }
      throw error;
    }
  }

  /** The old cost was accepted once more; the stored hash moves to the current cost. */
  async function rehash(store: UserStore, id: string, password: string): Promise<void> {
    try {
      await store.update(id, { passwordHash: await passwords.hash(password), updatedAt: now() });
    } catch (error) {
      logger.warn({ userId: id, error: describe(error) }, `${PREFIX} could not rehash a password`);
    }
  }

  async function attemptLogin(
    store: UserStore,
    account: string,
    password: string,
    context: RequestContext,
  ): Promise<LoginResult> {
    try {
      await throttle.check(account, context.ip);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'RATE_LIMITED') {
        logins?.inc({ outcome: 'locked' });
        await audit('login.locked', { ip: context.ip, details: { reason: 'locked out' } });
      }
      throw error;
    }
    const user = await store.findByEmail(account);
    const ok =
      user === null
        ? await passwords.verifyDummy(password)
        : await passwords.verify(password, user.passwordHash);
    if (!ok || user === null) {
      const { lockedForMs } = await throttle.fail(account, context.ip);
      logins?.inc({ outcome: 'failure' });
      await audit('login.failure', {
        actorId: user?.id ?? null,
        ip: context.ip,
        details: { reason: user === null ? 'unknown email' : 'wrong password' },
      });
      if (lockedForMs > 0) {
        await audit('login.locked', {
          actorId: user?.id ?? null,
          ip: context.ip,
          details: { lockedForSeconds: Math.ceil(lockedForMs / 1000) },
        });
      }
      throw invalidCredentials();
    }
    await throttle.succeed(account);
    if (passwords.needsRehash(user.passwordHash)) await rehash(store, user.id, password);
    const pair = await issueTokens(user);
    logins?.inc({ outcome: 'success' });
    await audit('login.success', { actorId: user.id, ip: context.ip });
    return { ...pair, user: { id: user.id, email: user.email, role: user.role } };
  }

  return { login };
}
