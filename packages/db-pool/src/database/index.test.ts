import { describe, expectTypeOf, it } from 'vitest';
import type { Database, QueryResult } from './index.js';

// An interface has no implicit index signature: this file does not compile while the row
// type parameters are constrained to Record<string, unknown>. The assertions are types,
// checked by `pnpm typecheck`; nothing here runs a query.
interface Item {
  id: string;
  name: string;
}

type Returns<F> = F extends (...args: never[]) => infer R ? R : never;

describe('row type parameters', () => {
  it('accept interfaces as well as type aliases', () => {
    const db = {} as Database;
    expectTypeOf<Returns<typeof db.many<Item>>>().toEqualTypeOf<Promise<Item[]>>();
    expectTypeOf<Returns<typeof db.one<Item>>>().toEqualTypeOf<Promise<Item>>();
    expectTypeOf<Returns<typeof db.maybeOne<Item>>>().toEqualTypeOf<Promise<Item | null>>();
    expectTypeOf<Returns<typeof db.query<Item>>>().toEqualTypeOf<Promise<QueryResult<Item>>>();
    expectTypeOf<Returns<typeof db.stream<Item>>>().toEqualTypeOf<AsyncIterable<Item>>();
  });
});
