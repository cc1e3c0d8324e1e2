import type { ClientIpResolver, Handler, Middleware } from '@fairmind/core';
import {
  type BodySource,
  createRouteHandler,
  type PatternRoute,
  type Route,
  Router,
} from '@fairmind/edge';
import type { Auth } from '../auth/index.js';
import { invalid } from '../errors/index.js';
import { PERMISSIONS } from '../rbac/index.js';
import type { UserStore } from '../users/index.js';
import { apiKeyRoutes, userRoutes } from './admin.js';
import { requestOrigin } from './context.js';
import { type CookieSessionOptions, createCookieSession } from './cookies.js';
import { sessionRoutes } from './session.js';

export { requirePrincipal } from './context.js';
export type { CookieSessionOptions } from './cookies.js';

/** Options of {@link authRoutes}. */
export interface AuthRoutesOptions {
  /** The users `createAuth()` was given: `/me` and the password change read them. */
  users: UserStore;
  /**
   * Where the routes are mounted: the cookie's path and the router's paths start with it.
   * @default '/auth'
   */
  prefix?: string | undefined;
  /**
   * The client IP for the audit trail and the per-IP lockout (`createClientIpResolver` from
   * `@fairmind/core`, with your trusted proxies).
   * @default the socket peer
   */
  clientIp?: ClientIpResolver | undefined;
  /**
   * The permissions `GET /me` lists when the principal has them.
   * @default every permission of `PERMISSIONS` and of the role table, wildcards left out
   */
  permissions?: readonly string[] | undefined;
  /**
   * Cookie sessions: the refresh token in an `HttpOnly`, `Secure`, `SameSite` cookie scoped
   * to the refresh route, with CSRF checks on the refresh. `true` takes the defaults.
   * @default false (Bearer: tokens in the JSON bodies)
   */
  cookies?: CookieSessionOptions | boolean | undefined;
  /**
   * `POST /password` (`{ currentPassword, newPassword }`): a new password ends every other
   * session of the user.
   * @default true
   */
  passwordChange?: boolean | undefined;
  /**
   * `/api-keys`: create (permission `apikeys:create`), list and revoke the caller's keys.
   * @default true
   */
  apiKeys?: boolean | undefined;
  /**
   * User management with `users:manage`: `'create'` is `POST /users`; `'manage'` adds
   * `PATCH /users/:id` (`{ role }`) and `DELETE /users/:id`; `false` none.
   * @default 'manage'
   */
  userAdmin?: 'create' | 'manage' | false | undefined;
}

/** What {@link authRoutes} returns: a mountable application of its own, and its route table. */
export interface AuthRoutes {
  /** Where the routes are mounted. */
  readonly prefix: string;
  /** `[method, path, route]` with the prefix, to add to a route table of your own. */
  readonly routes: ReadonlyArray<readonly [string, string, Route]>;
  /** None: the routes authenticate the requests that need it themselves. */
  readonly middleware: readonly Middleware[];
  /**
   * A contract handler answering the routes: 404 and 405 problems for other paths and
   * methods, 401 and 403 problems from the guards.
   */
  readonly handler: Handler<BodySource>;
}

const PREFIX = /^(?:\/[A-Za-z0-9._~-]+)*$/;

// The concrete permissions `/me` can list: wildcards grant, they are not shown.
function knownPermissions(auth: Auth): string[] {
  const all = new Set<string>(PERMISSIONS);
  for (const role of auth.rbac.roles) {
    for (const grant of auth.rbac.grants(role) ?? []) if (!grant.includes('*')) all.add(grant);
  }
  return [...all];
}

function checkOptions(options: AuthRoutesOptions): string {
  if (typeof options !== 'object' || options === null || typeof options.users !== 'object') {
    throw invalid('authRoutes()', 'needs { users }: the user store createAuth() was given');
  }
  const prefix = options.prefix ?? '/auth';
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw invalid('prefix', "must be '' or a path such as '/auth', without a trailing slash");
  }
  const { userAdmin } = options;
  if (userAdmin !== undefined && userAdmin !== false && !['create', 'manage'].includes(userAdmin)) {
    throw invalid('userAdmin', "must be 'create', 'manage' or false");
  }
  return prefix;
}

/**
 * The account routes of an application, written once on the contract: `POST /login`,
 * `POST /refresh`, `POST /logout`, `GET /me`, `POST /password`, the caller's `/api-keys`,
 * and `/users` for administrators, under a prefix. They answer as the FairMind platform
 * does (which serves these very routes): problem documents, audit events, `no-store` on
 * tokens. Mount `handler` with your adapter, or add `routes` to a route table of your own.
 *
 * @example
 * ```ts
 * const account = authRoutes(auth, { users, cookies: true });
 * mount(app, account, { prefix: account.prefix }); // @fairmind/express, fastify, hono, node
 * ```
 */
export function authRoutes(auth: Auth, options: AuthRoutesOptions): AuthRoutes {
  const prefix = checkOptions(options);
  const { cookies } = options;
  const origin = requestOrigin(options.clientIp);
  const deps = {
    auth,
    users: options.users,
    origin,
    permissions: options.permissions ?? knownPermissions(auth),
    cookies:
      cookies === undefined || cookies === false
        ? undefined
        : createCookieSession(cookies === true ? {} : cookies, prefix),
  };
  const userAdmin = options.userAdmin ?? 'manage';
  const relative = [
    ...sessionRoutes(deps, { password: options.passwordChange ?? true }),
    ...(options.apiKeys === false ? [] : apiKeyRoutes({ auth, origin })),
    ...(userAdmin === false ? [] : userRoutes({ auth, origin }, userAdmin)),
  ];
  const routes = relative.map(([method, path, route]) => [method, prefix + path, route] as const);
  const router = new Router<PatternRoute>();
  for (const [method, path, route] of routes) router.add(method, path, { ...route, pattern: path });
  const authenticate = auth.authenticate();
  // One permission check per permission, made once: they are few and fixed.
  const checks = new Map(
    routes.flatMap(([, , { permission }]) =>
      permission === null || permission === 'authenticated'
        ? []
        : [[permission, auth.requirePermission(permission)] as const],
    ),
  );
  const handler = createRouteHandler({
    router,
    async authorize(route, exchange) {
      if (exchange.state.auth === undefined) await authenticate(exchange);
      await checks.get(route.permission ?? '')?.(exchange);
    },
  });
  return { prefix, routes, middleware: [], handler };
}
