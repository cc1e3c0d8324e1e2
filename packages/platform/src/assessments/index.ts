import { toIsoTime } from '@fairmind/core';
import { type Database, type Reader, sql } from '@fairmind/db-pool';
import { decodeCursor, type Page, toPage } from '@fairmind/edge';
import { z } from 'zod';
import { uuidv7 } from '../ids/index.js';
import { notFound } from '../models/index.js';

/** One measurement of a model against a threshold. */
export interface Assessment {
  id: string;
  modelId: string;
  metric: string;
  value: number;
  threshold: number;
  /** `value >= threshold`: thresholds are minimums (a fairness ratio, an accuracy). */
  passed: boolean;
  notes: string | null;
  createdAt: string;
  createdBy: string;
}

const finite = z.number().refine(Number.isFinite, { message: 'must be a finite number' });

/** `POST /api/v1/models/:id/assessments`. */
export const createAssessmentSchema = z
  .object({
    metric: z.string().trim().min(1).max(200),
    value: finite,
    threshold: finite,
    notes: z.string().max(5000).nullish(),
  })
  .strict();

export type CreateAssessment = z.infer<typeof createAssessmentSchema>;

interface AssessmentRow {
  id: string;
  model_id: string;
  metric: string;
  value: number | string;
  threshold: number | string;
  passed: boolean | number;
  notes: string | null;
  created_at: Date | string;
  created_by: string;
  [column: string]: unknown;
}

function toAssessment(row: AssessmentRow): Assessment {
  return {
    id: row.id,
    modelId: row.model_id,
    metric: row.metric,
    value: Number(row.value),
    threshold: Number(row.threshold),
    passed: row.passed === true || row.passed === 1,
    notes: row.notes,
    createdAt: toIsoTime(row.created_at),
    createdBy: row.created_by,
  };
}

/** The assessments table, on either driver. */
export function createAssessmentRepository(db: Database) {
  async function requireModel(modelId: string, reader: Reader = db): Promise<void> {
    const model = await reader.maybeOne(sql`select id from models where id = ${modelId}`);
    if (!model) throw notFound('Model', modelId);
  }

  return {
    /** A page, read through `reader` (a replica's, for a page about to be cached). */
    async list(
      modelId: string,
      limit: number,
      cursor: string | undefined,
      reader: Reader = db,
    ): Promise<Page<Assessment>> {
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      await requireModel(modelId, reader);
      const rows = await reader.many<AssessmentRow>(sql`
        select id, model_id, metric, value, threshold, passed, notes, created_at, created_by
        from assessments
        where model_id = ${modelId}
        ${after ? sql`and (created_at, id) < (${after.createdAt}, ${after.id})` : sql.empty}
        order by created_at desc, id desc
        limit ${limit + 1}`);
      return toPage(rows.map(toAssessment), limit);
    },

    async create(modelId: string, input: CreateAssessment, createdBy: string): Promise<Assessment> {
      const assessment: Assessment = {
        id: uuidv7(),
        modelId,
        metric: input.metric,
        value: input.value,
        threshold: input.threshold,
        passed: input.value >= input.threshold,
        notes: input.notes ?? null,
        createdAt: new Date().toISOString(),
        createdBy,
      };
      // The model check and the insert share a transaction so a concurrent delete cannot
      // leave an assessment of a model that is gone (the foreign key would refuse it anyway,
      // but as a 409 rather than the 404 the client should see).
      await db.transaction(async (tx) => {
        const model = await tx.maybeOne(sql`select id from models where id = ${modelId}`);
        if (!model) throw notFound('Model', modelId);
        await tx.query(sql`
          insert into assessments (id, model_id, metric, value, threshold, passed, notes, created_at, created_by)
          values (${assessment.id}, ${modelId}, ${assessment.metric}, ${assessment.value}, ${assessment.threshold},
                  ${assessment.passed}, ${assessment.notes}, ${assessment.createdAt}, ${createdBy})`);
      });
      return assessment;
    },
  };
}

export type AssessmentRepository = ReturnType<typeof createAssessmentRepository>;
