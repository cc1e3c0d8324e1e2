import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { compareSync } from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bcryptCost, createPasswordHasher } from './index.js';

const run = promisify(execFile);
const passwords = createPasswordHasher({ cost: 4, workers: 2 });
afterAll(() => passwords.close());

// Published bcrypt vectors (OpenBSD's, as in jBCrypt's and bcryptjs's suites).
const VECTORS: Array<[string, string]> = [
  ['U*U', '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW'],
  ['U*U*', '$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK'],
  ['U*U*U', '$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a'],
  ['', '$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy'],
];
// 80 bytes: bcrypt would read the first 72, and this vector is the hash of exactly that.
const LONG =
  '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored';
const LONG_HASH = '$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui';

describe('bcrypt in workers', () => {
  it.each(VECTORS)('verifies the published vector for %j', async (password, hash) => {
    await expect(passwords.verify(password, hash)).resolves.toBe(true);
    await expect(passwords.verify(`${password}x`, hash)).resolves.toBe(false);
  });

  it('verifies $2b$ and $2y$ spellings of the same hash', async () => {
    const [password, hash] = VECTORS[0] as [string, string];
    await expect(passwords.verify(password, hash.replace('$2a$', '$2b$'))).resolves.toBe(true);
    await expect(passwords.verify(password, hash.replace('$2a$', '$2y$'))).resolves.toBe(true);
  });

  it('answers false, without throwing, for other prefixes and malformed hashes', async () => {
    const [password, hash] = VECTORS[0] as [string, string];
    for (const other of [
      hash.replace('$2a$', '$2x$'),
      hash.replace('$2a$', '$2$'),
      hash.replace('$2a$', '$3a$'),
      '$1$abcdefgh$abcdefghijklmnopqrstuv',
      'plain text',
      '',
      hash.slice(0, -1),
    ]) {
      await expect(passwords.verify(password, other), other).resolves.toBe(false);
    }
    await expect(passwords.verify(undefined as unknown as string, hash)).resolves.toBe(false);
  });

  it('refuses passwords over 72 bytes instead of truncating them', async () => {
    // bcryptjs alone would accept the long password by its first 72 bytes.
    expect(Buffer.byteLength(LONG)).toBeGreaterThan(72);
    expect(compareSync(LONG, LONG_HASH)).toBe(true);
    await expect(passwords.verify(LONG, LONG_HASH)).resolves.toBe(false);
    await expect(passwords.hash(LONG)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      status: 400,
    });
    // 72 bytes exactly (multi-byte characters counted as bytes) is fine; 73 is not.
    const exact = `${'é'.repeat(35)}ab`;
    expect(Buffer.byteLength(exact)).toBe(72);
    await expect(passwords.verify(exact, await passwords.hash(exact))).resolves.toBe(true);
    await expect(passwords.hash(`${exact}c`)).rejects.toThrow(/it is 73/);
  });

  it('hashes at the configured cost as $2b$ and says when a hash needs a rehash', async () => {
    const hash = await passwords.hash('correct horse');
    expect(hash).toMatch(/^\$2b\$04\$/);
    expect(bcryptCost(hash)).toBe(4);
    expect(passwords.needsRehash(hash)).toBe(false);
    const stronger = createPasswordHasher({ cost: 6, workers: 1 });
    try {
      expect(stronger.needsRehash(hash)).toBe(true);
      expect(stronger.needsRehash('not a hash')).toBe(true);
      expect(stronger.needsRehash(await stronger.hash('correct horse'))).toBe(false);
      expect(stronger.cost).toBe(6);
    } finally {
      await stronger.close();
    }
  });

  it('runs a dummy comparison for unknown accounts', async () => {
    await expect(passwords.verifyDummy('anything at all')).resolves.toBe(false);
    await expect(passwords.verifyDummy(LONG)).resolves.toBe(false);
  });

  it('runs jobs in parallel on several workers and keeps answers apart', async () => {
    const inputs = Array.from({ length: 8 }, (_, index) => `password-${index}`);
    const hashes = await Promise.all(inputs.map((input) => passwords.hash(input)));
    const checks = await Promise.all(
      inputs.map((input, index) => passwords.verify(input, hashes[(index + 1) % 8] as string)),
    );
    expect(checks.every((ok) => ok === false)).toBe(true);
    const good = await Promise.all(
      inputs.map((input, index) => passwords.verify(input, hashes[index] as string)),
    );
    expect(good.every(Boolean)).toBe(true);
  });

  it('refuses bad options and work after close', async () => {
    expect(() => createPasswordHasher({ cost: 9, production: true })).toThrow(
      /production needs at least 10/,
    );
    expect(() => createPasswordHasher({ cost: 3 })).toThrow(/cost/);
    expect(() => createPasswordHasher({ workers: 0 })).toThrow(/workers/);
    const closed = createPasswordHasher({ cost: 4, workers: 1 });
    await closed.close();
    await expect(closed.hash('long enough')).rejects.toMatchObject({
      code: 'PASSWORD_HASHER_CLOSED',
    });
  });

  it('refuses jobs past maxQueue with a 503', async () => {
    const tiny = createPasswordHasher({ cost: 4, workers: 1, maxQueue: 1 });
    try {
      const results = await Promise.allSettled([
        tiny.hash('long enough'),
        tiny.hash('long enough'),
        tiny.hash('long enough'),
      ]);
      const refused = results.filter((result) => result.status === 'rejected');
      expect(refused.length).toBeGreaterThanOrEqual(1);
      expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({
        code: 'PASSWORD_QUEUE_FULL',
        status: 503,
      });
    } finally {
      await tiny.close();
    }
  });
});

describe('the built worker', () => {
  const root = resolve(import.meta.dirname, '../..');
  let outDir: string;

  beforeAll(async () => {
    // A private build (no .d.ts, to keep it quick) under node_modules/.cache, so the output
    // resolves the package's dependencies the way an installed copy would.
    outDir = mkdtempSync(join(root, 'node_modules', '.cache-auth-build-'));
    const tsup = join(
      dirname(createRequire(import.meta.url).resolve('tsup/package.json')),
      'dist/cli-default.js',
    );
    await run(process.execPath, [tsup, '--no-dts', '--out-dir', outDir], {
      cwd: root,
      timeout: 120_000,
    });
  }, 180_000);
  afterAll(() => {
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  const script = (load: string) => `
    ${load}
    const passwords = createPasswordHasher({ cost: 4, workers: 1 });
    passwords.hash('correct horse').then(async (hash) => {
      const ok = await passwords.verify('correct horse', hash);
      const vector = await passwords.verify('U*U', '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW');
      await passwords.close();
      console.log(JSON.stringify({ prefix: hash.slice(0, 7), ok, vector }));
    });`;

  it('hashes from the ESM build', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        script(`import { createPasswordHasher } from ${JSON.stringify(join(outDir, 'index.js'))};`),
      ],
      { cwd: root, timeout: 60_000 },
    );
    expect(JSON.parse(stdout)).toEqual({ prefix: '$2b$04$', ok: true, vector: true });
  });

  it('hashes from the CJS build', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '-e',
        script(
          `const { createPasswordHasher } = require(${JSON.stringify(join(outDir, 'index.cjs'))});`,
        ),
      ],
      { cwd: root, timeout: 60_000 },
    );
    expect(JSON.parse(stdout)).toEqual({ prefix: '$2b$04$', ok: true, vector: true });
  });
});
