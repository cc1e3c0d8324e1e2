// Helpers shared by this package's tests (not part of the published entries).
import { expect } from 'vitest';

/** An HS256 secret long enough for every rule. */
export const TEST_SECRET = 'a-test-secret-that-is-long-enough-for-hs256!';

/** What a rejected call threw, failing the test when it resolved instead. */
export async function rejection(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, 'expected a rejection').toBeDefined();
  return error as {
    code: string;
    status: number;
    message: string;
    headers?: Record<string, string>;
  };
}

/**
 * Concurrent refreshes of one token: exactly one wins; the first loser finds the token spent
 * and revokes the family, later ones may find the family already revoked.
 */
export function expectOneWinner(results: readonly PromiseSettledResult<unknown>[]): void {
  expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
  const codes = results.flatMap((result) =>
    result.status === 'rejected' ? [(result.reason as { code: string }).code] : [],
  );
  expect(codes).toContain('REFRESH_TOKEN_REUSED');
  for (const code of codes) expect(['REFRESH_TOKEN_REUSED', 'TOKEN_REVOKED']).toContain(code);
}

/**
 * Concurrent refreshes of one token inside the reuse interval: every one succeeds, and all
 * hand out the same pair (HS256 signs equal claims to equal text).
 */
export function expectOnePair(
  results: readonly PromiseSettledResult<{ accessToken: string; refreshToken: string }>[],
): { accessToken: string; refreshToken: string } {
  const pairs = results.map((result) => {
    if (result.status === 'rejected') throw result.reason;
    return result.value;
  });
  expect(new Set(pairs.map((pair) => pair.refreshToken)).size).toBe(1);
  expect(new Set(pairs.map((pair) => pair.accessToken)).size).toBe(1);
  return pairs[0] as { accessToken: string; refreshToken: string };
}
