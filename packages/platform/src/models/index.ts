import { FairmindError, toIsoTime } from '@fairmind/core';
import { type Database, type Reader, sql } from '@fairmind/db-pool';
import { decodeCursor, type Page, toPage } from '@fairmind/edge';
import { z } from 'zod';
import { uuidv7 } from '../ids/index.js';

export const riskLevels = ['low', 'medium', 'high'] as const;
export type RiskLevel = (typeof riskLevels)[number];

/** A governed AI model, as the API returns it. */
export interface Model {
  id: string;
  name: string;
  version: string;
  description: string | null;
  riskLevel: RiskLevel;
  owner: string;
  createdAt: string;
  updatedAt: string;
}

const text = (max: number) => z.string().trim().min(1).max(max);

/** `POST /api/v1/models`: unknown fields are refused, not ignored. */
export const createModelSchema = z
  .object({
    name: text(200),
    version: text(64),
    description: z.string().max(5000).nullish(),
    riskLevel: z.enum(riskLevels),
  })
  .strict();

/** `PATCH /api/v1/models/:id`: any subset, at least one field. */
export const updateModelSchema = createModelSchema
  .partial()
  .strict()
  .refine((value) => Object.keys(value).length > 0, {
    message: 'send at least one field to change',
  });

export type CreateModel = z.infer<typeof createModelSchema>;
export type UpdateModel = z.infer<typeof updateModelSchema>;

interface ModelRow {
  id: string;
  name: string;
  version: string;
  description: string | null;
  risk_level: RiskLevel;
  owner: string;
  created_at: Date | string;
  updated_at: Date | string;
  [column: string]: unknown;
}

function toModel(row: ModelRow): Model {
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    description: row.description,
    riskLevel: row.risk_level,
    owner: row.owner,
    createdAt: toIsoTime(row.created_at),
    updatedAt: toIsoTime(row.updated_at),
  };
}

export function notFound(what: string, id: string): FairmindError {
  return new FairmindError('NOT_FOUND', 404, `${what} "${id}" does not exist: check the id.`);
}

const COLUMNS = sql`id, name, version, description, risk_level, owner, created_at, updated_at`;

/** The models table, on either driver. */
export function createModelRepository(db: Database) {
  return {
    /** A page, read through `reader` (a replica's, for a page about to be cached). */
    async list(
      limit: number,
      cursor: string | undefined,
      reader: Reader = db,
    ): Promise<Page<Model>> {
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      const rows = await reader.many<ModelRow>(sql`
        select ${COLUMNS} from models
        ${after ? sql`where (created_at, id) < (${after.createdAt}, ${after.id})` : sql.empty}
        order by created_at desc, id desc
        limit ${limit + 1}`);
      return toPage(rows.map(toModel), limit);
    },

    async get(id: string): Promise<Model> {
      const row = await db.maybeOne<ModelRow>(sql`select ${COLUMNS} from models where id = ${id}`);
      if (!row) throw notFound('Model', id);
      return toModel(row);
    },

    async create(input: CreateModel, owner: string): Promise<Model> {
      const now = new Date().toISOString();
      const model: Model = {
        id: uuidv7(),
        name: input.name,
        version: input.version,
        description: input.description ?? null,
        riskLevel: input.riskLevel,
        owner,
        createdAt: now,
        updatedAt: now,
      };
      await db.query(sql`
        insert into models (id, name, version, description, risk_level, owner, created_at, updated_at)
        values (${model.id}, ${model.name}, ${model.version}, ${model.description}, ${model.riskLevel},
                ${model.owner}, ${now}, ${now})`);
      return model;
    },

    async update(id: string, changes: UpdateModel): Promise<Model> {
      const sets = [];
      if (changes.name !== undefined) sets.push(sql`name = ${changes.name}`);
      if (changes.version !== undefined) sets.push(sql`version = ${changes.version}`);
      if (changes.description !== undefined) sets.push(sql`description = ${changes.description}`);
      if (changes.riskLevel !== undefined) sets.push(sql`risk_level = ${changes.riskLevel}`);
      sets.push(sql`updated_at = ${new Date().toISOString()}`);
      const { rowCount } = await db.query(
        sql`update models set ${sql.join(sets)} where id = ${id}`,
      );
      if (rowCount === 0) throw notFound('Model', id);
      return this.get(id);
    },

    async delete(id: string): Promise<void> {
      const { rowCount } = await db.query(sql`delete from models where id = ${id}`);
      if (rowCount === 0) throw notFound('Model', id);
    },
  };
}

export type ModelRepository = ReturnType<typeof createModelRepository>;
