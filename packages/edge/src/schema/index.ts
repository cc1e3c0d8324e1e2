import { FairmindError } from '@fairmind/core';

/**
 * A Standard Schema (v1, standardschema.dev): the one interface zod 4, valibot and arktype
 * schemas implement. The spec asks libraries to copy these few types rather than depend on a
 * package for them, so they are written out here.
 */
export interface StandardSchema<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (
      value: unknown,
    ) => StandardSchemaResult<Output> | Promise<StandardSchemaResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/** What a {@link StandardSchema} answers: the value, or the issues. */
export type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: readonly StandardSchemaIssue[] };

/** One problem a {@link StandardSchema} found, with where it is. */
export interface StandardSchemaIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/** The value a {@link StandardSchema} produces. */
export type SchemaOutput<S extends StandardSchema> = NonNullable<S['~standard']['types']>['output'];

/** One bad field as a 400 problem lists it: a dotted path (`(root)` for the whole value). */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

/** Whether a value is a {@link StandardSchema}. */
export function isStandardSchema(value: unknown): value is StandardSchema {
  const standard = (value as { '~standard'?: { validate?: unknown } } | null)?.['~standard'];
  return typeof standard === 'object' && typeof standard?.validate === 'function';
}

// A problem lists at most this many fields: enough to fix a form, bounded for a hostile body.
const MAX_ISSUES = 20;

/**
 * The 400 `VALIDATION_FAILED` problem for what a schema refused, naming each field in the
 * message and in `details.issues`.
 *
 * @example
 * ```ts
 * throw validationProblem([{ message: 'Required', path: ['email'] }], 'body');
 * // The request body is not valid: email: Required.
 * ```
 */
export function validationProblem(
  issues: readonly StandardSchemaIssue[],
  where: 'body' | 'query' | 'params',
): FairmindError {
  const fields: FieldIssue[] = issues.slice(0, MAX_ISSUES).map((issue) => ({
    path:
      (issue.path ?? [])
        .map((segment) => String(typeof segment === 'object' ? segment.key : segment))
        .join('.') || '(root)',
    message: issue.message,
  }));
  return new FairmindError(
    'VALIDATION_FAILED',
    400,
    `The request ${where} is not valid: ${fields.map((field) => `${field.path}: ${field.message}`).join('; ')}.`,
    { details: { issues: fields } },
  );
}

/**
 * Checks a value against a Standard Schema (a zod 4 schema, for one): the typed output, or a
 * 400 problem naming each bad field.
 *
 * @throws {FairmindError} 400 `VALIDATION_FAILED` listing the issues.
 * @example
 * ```ts
 * const query = await validate(z.object({ page: z.coerce.number().int().min(1) }), params, 'query');
 * ```
 */
export async function validate<S extends StandardSchema>(
  schema: S,
  value: unknown,
  where: 'body' | 'query' | 'params' = 'body',
): Promise<SchemaOutput<S>> {
  const result = await schema['~standard'].validate(value);
  if (result.issues !== undefined) throw validationProblem(result.issues, where);
  return result.value as SchemaOutput<S>;
}
