import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { readJsonBody } from '../body/index.js';
import { isStandardSchema, type StandardSchema, validate, validationProblem } from './index.js';

const json = (text: string) =>
  new Request('http://localhost/', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: text,
  });

async function rejection(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, 'expected a rejection').toBeDefined();
  return error as { code: string; status: number; message: string; details?: unknown };
}

const note = z.object({ title: z.string().min(1), tags: z.array(z.string()).max(3) }).strict();

describe('readJsonBody with a schema', () => {
  it("returns the schema's typed output", async () => {
    const value = await readJsonBody(json('{"title":"hi","tags":["a"]}'), note);
    expect(value).toEqual({ title: 'hi', tags: ['a'] });
    // The schema's output type, not unknown: this line would not compile otherwise.
    expect(value.title.toUpperCase()).toBe('HI');
  });

  it('answers 400 naming each field for null, arrays, wrong types and unknown fields', async () => {
    for (const [body, paths] of [
      ['null', ['(root)']],
      ['[1,2]', ['(root)']],
      ['{"title":1,"tags":"x"}', ['title', 'tags']],
      ['{"title":"ok","tags":["a",2]}', ['tags.1']],
      ['{"title":"ok","tags":[],"admin":true}', ['(root)']],
    ] as const) {
      const error = await rejection(readJsonBody(json(body), note));
      expect(error, body).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
      const issues = (error.details as { issues: Array<{ path: string }> }).issues;
      expect(
        issues.map((issue) => issue.path),
        body,
      ).toEqual(paths);
      for (const path of paths) expect(error.message).toContain(`${path}: `);
    }
  });

  it('still refuses what is not JSON before the schema runs, and keeps the options', async () => {
    const text = new Request('http://localhost/', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{"title":"x","tags":[]}',
    });
    expect((await rejection(readJsonBody(text, note))).message).toMatch(/must be JSON/);
    const big = json(JSON.stringify({ title: 'x'.repeat(200), tags: [] }));
    expect(await rejection(readJsonBody(big, note, { limit: 100 }))).toMatchObject({
      status: 413,
    });
  });

  it('takes any Standard Schema, asynchronous ones included', async () => {
    const even: StandardSchema<unknown, number> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: async (value) =>
          typeof value === 'number' && value % 2 === 0
            ? { value }
            : { issues: [{ message: 'must be even', path: [{ key: 'n' }] }] },
      },
    };
    expect(await readJsonBody(json('4'), even)).toBe(4);
    const error = await rejection(readJsonBody(json('3'), even));
    expect(error.message).toBe('The request body is not valid: n: must be even.');
  });
});

describe('validate and validationProblem', () => {
  it('checks a query the same way, and bounds the list of issues', async () => {
    const query = z.object({ page: z.coerce.number().int().min(1) });
    expect(await validate(query, { page: '2' }, 'query')).toEqual({ page: 2 });
    expect((await rejection(validate(query, { page: '0' }, 'query'))).message).toMatch(
      /^The request query is not valid: page: /,
    );
    const many = Array.from({ length: 50 }, (_, index) => ({ message: 'bad', path: [index] }));
    const problem = validationProblem(many, 'body');
    expect((problem.details as { issues: unknown[] }).issues).toHaveLength(20);
  });

  it('tells a schema from an options object', () => {
    expect(isStandardSchema(note)).toBe(true);
    expect(isStandardSchema({ limit: 10 })).toBe(false);
    expect(isStandardSchema(null)).toBe(false);
  });
});
