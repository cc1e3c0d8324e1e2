import type { FairmindState } from '../contract/index.js';

/**
 * The type of the authenticated principal on the per-request state: what `@fairmind/auth`
 * declares for `FairmindState['auth']` by declaration merging, or `unknown` when no package
 * declared one. The adapters type their idiomatic accessors with it (`req.auth`,
 * `request.auth`, `c.get('auth')`), so installing `@fairmind/auth` types all of them at once.
 *
 * The conditional is resolved where it is used, in the application's program, which is where
 * the augmentation is visible; evaluated inside this package it would always be `unknown`.
 *
 * @example
 * ```ts
 * import type { AuthOf } from '@fairmind/core';
 *
 * declare module '@fairmind/core' {
 *   interface FairmindState { auth?: { id: string; role: string } }
 * }
 * type Principal = AuthOf; // { id: string; role: string }
 * ```
 */
export type AuthOf<S = FairmindState> = S extends { auth?: infer P } ? P : unknown;
