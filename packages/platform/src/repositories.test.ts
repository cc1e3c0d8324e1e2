import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDatabase, type Database, migrate } from '@fairmind/db-pool';
import { decodeCursor, listQuerySchema } from '@fairmind/edge';
import { useTestDatabase } from '@fairmind/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAssessmentRepository } from './assessments/index.js';
import { computeDashboard } from './dashboard/index.js';
import { createModelRepository, createModelSchema, updateModelSchema } from './models/index.js';

const migrations = join(dirname(fileURLToPath(import.meta.url)), '..', 'migrations');
const pgDatabase = useTestDatabase();

describe.each(['sqlite', 'postgres'] as const)('repositories on %s', (driver) => {
  let db: Database;
  let dir: string | undefined;

  beforeAll(async () => {
    if (driver === 'sqlite') {
      dir = await mkdtemp(join(tmpdir(), 'fm-platform-'));
      db = createDatabase({ url: `sqlite:${join(dir, 'test.db')}` });
    } else {
      db = createDatabase({ url: pgDatabase.url, poolSize: 2 });
    }
    await migrate({ db, dir: migrations });
  });

  afterAll(async () => {
    await db.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('creates, reads, updates and deletes models', async () => {
    const models = createModelRepository(db);
    const created = await models.create(
      { name: 'Credit scorer', version: '1.0', riskLevel: 'high' },
      'user-1',
    );
    expect(created).toMatchObject({ name: 'Credit scorer', description: null, owner: 'user-1' });
    expect(await models.get(created.id)).toEqual(created);
    const updated = await models.update(created.id, {
      riskLevel: 'medium',
      description: 'v2 notes',
    });
    expect(updated).toMatchObject({
      riskLevel: 'medium',
      description: 'v2 notes',
      createdAt: created.createdAt,
    });
    expect(Date.parse(updated.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.updatedAt));
    await models.delete(created.id);
    await expect(models.get(created.id)).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
    await expect(models.delete(created.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(models.update('nope', { name: 'x' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('pages newest first with an opaque cursor', async () => {
    const models = createModelRepository(db);
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) {
      ids.push(
        (await models.create({ name: `page-${index}`, version: '1', riskLevel: 'low' }, 'u')).id,
      );
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const result = await models.list(2, cursor);
      seen.push(
        ...result.items.filter((item) => item.name.startsWith('page-')).map((item) => item.id),
      );
      if (result.nextCursor === null) break;
      cursor = result.nextCursor;
    }
    // Newest first, even for rows made in the same millisecond (ids are UUIDv7).
    expect(seen).toEqual([...ids].reverse());
    expect(() => decodeCursor('garbage')).toThrow(/cursor/);
    expect(() => decodeCursor(Buffer.from('["x","y"]').toString('base64url'))).toThrow(/cursor/);
  });

  it('records assessments, refuses unknown models, and cascades deletes', async () => {
    const models = createModelRepository(db);
    const assessments = createAssessmentRepository(db);
    const model = await models.create(
      { name: 'Hiring ranker', version: '3', riskLevel: 'high' },
      'u',
    );
    const pass = await assessments.create(
      model.id,
      { metric: 'demographic_parity', value: 0.9, threshold: 0.8 },
      'u',
    );
    const fail = await assessments.create(
      model.id,
      { metric: 'equal_opportunity', value: 0.7, threshold: 0.8, notes: 'retrain' },
      'u',
    );
    expect(pass).toMatchObject({ passed: true, modelId: model.id, notes: null });
    expect(fail).toMatchObject({ passed: false, notes: 'retrain' });
    const listed = await assessments.list(model.id, 20, undefined);
    expect(listed.items.map((item) => item.id)).toEqual([fail.id, pass.id]);
    expect(listed.items[0]).toEqual(fail);
    await expect(
      assessments.create('missing', { metric: 'm', value: 1, threshold: 1 }, 'u'),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(assessments.list('missing', 20, undefined)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await models.delete(model.id);
    const orphans = await db.many(
      (await import('@fairmind/db-pool'))
        .sql`select id from assessments where model_id = ${model.id}`,
    );
    expect(orphans).toEqual([]);
  });

  it('computes the dashboard from aggregates', async () => {
    const models = createModelRepository(db);
    const assessments = createAssessmentRepository(db);
    const before = await computeDashboard(db);
    const model = await models.create({ name: 'Dash', version: '1', riskLevel: 'medium' }, 'u');
    await assessments.create(model.id, { metric: 'm', value: 1, threshold: 0.5 }, 'u');
    await assessments.create(model.id, { metric: 'm', value: 0.1, threshold: 0.5 }, 'u');
    await assessments.create(model.id, { metric: 'm', value: 0.5, threshold: 0.5 }, 'u');
    const after = await computeDashboard(db);
    expect(after.models.total).toBe(before.models.total + 1);
    expect(after.models.byRisk.medium).toBe(before.models.byRisk.medium + 1);
    expect(after.assessments.total).toBe(before.assessments.total + 3);
    expect(after.assessments.passed).toBe(before.assessments.passed + 2);
    expect(after.assessments.failed).toBe(after.assessments.total - after.assessments.passed);
    expect(after.assessments.passRate).toBeCloseTo(
      after.assessments.passed / after.assessments.total,
      4,
    );
  });
});

describe('request schemas', () => {
  it('refuses unknown, missing and wrong fields', () => {
    expect(createModelSchema.safeParse({ name: 'a', version: '1', riskLevel: 'low' }).success).toBe(
      true,
    );
    expect(
      createModelSchema.safeParse({ name: 'a', version: '1', riskLevel: 'extreme' }).success,
    ).toBe(false);
    expect(createModelSchema.safeParse({ name: 'a', version: '1' }).success).toBe(false);
    expect(
      createModelSchema.safeParse({ name: 'a', version: '1', riskLevel: 'low', admin: true })
        .success,
    ).toBe(false);
    expect(
      createModelSchema.safeParse({ name: '   ', version: '1', riskLevel: 'low' }).success,
    ).toBe(false);
    expect(updateModelSchema.safeParse({}).success).toBe(false);
    expect(updateModelSchema.safeParse({ name: 'b' }).success).toBe(true);
  });

  it('bounds list queries', () => {
    expect(listQuerySchema.parse({})).toEqual({ limit: 20 });
    expect(listQuerySchema.parse({ limit: '100' })).toEqual({ limit: 100 });
    expect(listQuerySchema.safeParse({ limit: '0' }).success).toBe(false);
    expect(listQuerySchema.safeParse({ limit: '101' }).success).toBe(false);
    expect(listQuerySchema.safeParse({ limit: 'ten' }).success).toBe(false);
    expect(listQuerySchema.safeParse({ limit: '5', extra: '1' }).success).toBe(false);
  });
});
