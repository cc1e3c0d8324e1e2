/**
 * `promise`, or a rejection once `ms` have passed without an answer. The timer is cleared
 * either way, so a quick answer leaves nothing behind. The work itself is not cancelled: a
 * store call that answers late is ignored.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
