import { FairmindError } from '@fairmind/core';
import { describe, forbidden, PREFIX, validationFailed } from '../errors/index.js';
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
  const { users, audit } = deps;
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
      return await attemptLogin(deps, {
        store,
        account: normaliseEmail(email),
        password,
        context,
      });
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

  return { login };
}

/** One sign-in, its email already normalised into the lockout's account key. */
interface LoginAttempt {
  readonly store: UserStore;
  readonly account: string;
  readonly password: string;
  readonly context: RequestContext;
}

async function attemptLogin(deps: LoginDeps, attempt: LoginAttempt): Promise<LoginResult> {
  const { passwords, throttle, audit, issueTokens } = deps;
  const { logins } = deps.metrics;
  const { store, account, password, context } = attempt;
  await checkLockout(deps, attempt);
  const user = await store.findByEmail(account);
  const ok =
    user === null
      ? await passwords.verifyDummy(password)
      : await passwords.verify(password, user.passwordHash);
  if (!ok || user === null) {
    await recordFailure(deps, attempt, user?.id ?? null);
    throw invalidCredentials();
  }
  await throttle.succeed(account);
  // Only after the right password: a disabled account is not revealed to a guess.
  if (user.disabledAt !== undefined && user.disabledAt !== null) {
    await audit('login.failure', {
      actorId: user.id,
      ip: context.ip,
      details: { reason: 'disabled' },
    });
    throw forbidden('this account is disabled: ask an administrator to enable it');
  }
  if (passwords.needsRehash(user.passwordHash)) await rehash(deps, attempt, user.id);
  const pair = await issueTokens(user);
  logins?.inc({ outcome: 'success' });
  await audit('login.success', { actorId: user.id, ip: context.ip });
  return { ...pair, user: { id: user.id, email: user.email, role: user.role } };
}

/** Refuses a locked-out account or address before any password work, and audits that. */
async function checkLockout(deps: LoginDeps, { account, context }: LoginAttempt): Promise<void> {
  const { throttle, audit } = deps;
  try {
    await throttle.check(account, context.ip);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'RATE_LIMITED') {
      deps.metrics.logins?.inc({ outcome: 'locked' });
      await audit('login.locked', { ip: context.ip, details: { reason: 'locked out' } });
    }
    throw error;
  }
}

/** Counts a wrong email or password towards the lockout, and audits it (and a lockout). */
async function recordFailure(
  deps: LoginDeps,
  { account, context }: LoginAttempt,
  userId: string | null,
): Promise<void> {
  const { throttle, audit } = deps;
  const { lockedForMs } = await throttle.fail(account, context.ip);
  deps.metrics.logins?.inc({ outcome: 'failure' });
  await audit('login.failure', {
    actorId: userId,
    ip: context.ip,
    details: { reason: userId === null ? 'unknown email' : 'wrong password' },
  });
  if (lockedForMs > 0) {
    await audit('login.locked', {
      actorId: userId,
      ip: context.ip,
      details: { lockedForSeconds: Math.ceil(lockedForMs / 1000) },
    });
  }
}

/** The old cost was accepted once more; the stored hash moves to the current cost. */
async function rehash(
  deps: LoginDeps,
  { store, password }: LoginAttempt,
  id: string,
): Promise<void> {
  const { passwords, now, logger } = deps;
  try {
    await store.update(id, { passwordHash: await passwords.hash(password), updatedAt: now() });
  } catch (error) {
    logger.warn({ userId: id, error: describe(error) }, `${PREFIX} could not rehash a password`);
  }
}
