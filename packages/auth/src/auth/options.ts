import type { Logger } from '@fairmind/core';
import { z } from 'zod';
import type { AuditSink } from '../audit/index.js';
import { invalid } from '../errors/index.js';
import { createKeyRing, type KeyInput, type KeyRing } from '../keys/index.js';
import { type KeyOptionName, keyOptionNames } from '../keys/internal.js';
import {
  createPasswordHasher,
  type PasswordHasher,
  type PasswordHasherOptions,
} from '../passwords/index.js';
import { createRbac, type Rbac, type RbacOptions } from '../rbac/index.js';
import type { AuthOptions } from './index.js';

const DEFAULTS = {
  issuer: 'fairmind',
  audience: 'fairmind-api',
  accessTokenTtlSeconds: 1800,
  refreshTokenTtlSeconds: 14 * 86_400,
  familyLifetimeSeconds: 30 * 86_400,
  refreshReuseIntervalSeconds: 0,
  tokenCacheSize: 10_000,
  storeTimeoutMs: 1000,
};

const settingsSchema = z.object({
  issuer: z.string().min(1).max(256),
  audience: z.string().min(1).max(256),
  accessTokenTtlSeconds: z.int().min(10).max(86_400),
  refreshTokenTtlSeconds: z
    .int()
    .min(60)
    .max(365 * 86_400),
  familyLifetimeSeconds: z
    .int()
    .min(60)
    .max(3 * 365 * 86_400),
  // Up to five minutes: longer, a stolen token's replay would pass for a second tab.
  refreshReuseIntervalSeconds: z.int().min(0).max(300),
  tokenCacheSize: z.int().min(0).max(10_000_000),
  storeTimeoutMs: z.int().min(1).max(60_000),
  failOpen: z.boolean(),
});

/** The numeric and string options of {@link AuthOptions}, checked and with their defaults. */
export type AuthSettings = z.infer<typeof settingsSchema>;

/** The settings of `options`, or a 400-style `invalid` error naming the first bad option. */
export function parseSettings(options: AuthOptions): AuthSettings {
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', 'must be an object such as { secret: process.env.JWT_SECRET }');
  }
  const parsed = settingsSchema.safeParse({
    ...DEFAULTS,
    failOpen: false,
    ...Object.fromEntries(
      Object.entries(options).filter(
        ([name, value]) => name in settingsSchema.shape && value !== undefined,
      ),
    ),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(
      String(issue?.path[0] ?? 'options'),
      issue?.message ?? 'is invalid',
      parsed.error,
    );
  }
  return parsed.data;
}

const shortcutOptionName: KeyOptionName = (_index, field) => {
  if (field === 'secret') return 'secret (JWT_SECRET)';
  return field ?? 'algorithm';
};

function keyInputs(options: AuthOptions): readonly KeyInput[] {
  if (options.keys !== undefined) {
    if (
      options.secret !== undefined ||
      options.privateKey !== undefined ||
      options.publicKey !== undefined
    ) {
      throw invalid('keys', 'replaces secret, privateKey and publicKey: give one or the other');
    }
    return options.keys;
  }
  const algorithm = options.algorithm ?? 'HS256';
  if (algorithm.startsWith('HS')) {
    if (options.secret === undefined)
      throw invalid('secret', `is required for ${algorithm} (JWT_SECRET)`);
    return [{ algorithm, secret: options.secret }];
  }
  const input: KeyInput = { algorithm };
  if (options.privateKey !== undefined) input.privateKey = options.privateKey;
  if (options.publicKey !== undefined) input.publicKey = options.publicKey;
  if (options.secret !== undefined) {
    throw invalid('secret', `is for HS* algorithms; ${algorithm} takes privateKey and publicKey`);
  }
  return [input];
}

/** The key ring of `keys`, or of the `secret`/`privateKey`/`publicKey` shortcut. */
export function keyRingOf(options: AuthOptions, production: boolean): KeyRing {
  const ringOptions = {
    keys: keyInputs(options),
    ...(options.signingKid === undefined ? {} : { signingKid: options.signingKid }),
    production,
  };
  // A ring built from secret/privateKey/publicKey names those options in its errors.
  if (options.keys === undefined) keyOptionNames.set(ringOptions, shortcutOptionName);
  return createKeyRing(ringOptions);
}

/** The RBAC table given, or one made from the options given. */
export function rbacOf(option: AuthOptions['rbac']): Rbac {
  return typeof (option as Rbac | undefined)?.check === 'function'
    ? (option as Rbac)
    : createRbac(option as RbacOptions | undefined);
}

/**
 * The hasher given, or one made here from the options given; `own` says which, since only a
 * hasher made here is closed with the auth.
 */
export function passwordsOf(
  options: Pick<AuthOptions, 'passwords' | 'registry'>,
  production: boolean,
  logger: Logger,
): { readonly passwords: PasswordHasher; readonly own: boolean } {
  const own = typeof (options.passwords as PasswordHasher | undefined)?.verify !== 'function';
  const passwords = own
    ? createPasswordHasher({
        production,
        logger,
        ...(options.registry === undefined ? {} : { registry: options.registry }),
        ...(options.passwords as PasswordHasherOptions | undefined),
      })
    : (options.passwords as PasswordHasher);
  return { passwords, own };
}

/** `audit` as a list. */
export function auditSinksOf(option: AuthOptions['audit']): readonly AuditSink[] {
  return option === undefined ? [] : Array.isArray(option) ? option : [option as AuditSink];
}
