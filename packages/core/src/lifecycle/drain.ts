import type { Logger } from '../log/index.js';
import type { CloseHook } from './index.js';

/** A registered close hook and the name its log lines carry. */
export interface NamedHook {
  readonly name: string;
  readonly hook: CloseHook;
}

/** What {@link drainHooks} needs from the lifecycle that owns the hooks. */
export interface DrainContext {
  readonly hooks: readonly NamedHook[];
  readonly logger: Logger;
  readonly drainTimeoutMs: number;
}

/**
 * One timer for the whole drain rather than one per hook: the deadline bounds the shutdown,
 * so a slow first hook leaves less time to the rest. Aborting the signal lets hooks that
 * honour it give up early.
 */
function startDeadline(drainTimeoutMs: number) {
  const controller = new AbortController();
  let expired = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const reached = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => {
      expired = true;
      controller.abort(new Error('drain deadline passed'));
      resolve('deadline');
    }, drainTimeoutMs);
    timer.unref?.();
  });
  return {
    signal: controller.signal,
    reached,
    get expired() {
      return expired;
    },
    clear() {
      if (timer) clearTimeout(timer);
    },
  };
}

type Deadline = ReturnType<typeof startDeadline>;

/** Runs one hook against the shared deadline; false when it threw or ran out of time. */
async function runHook(
  { name, hook }: NamedHook,
  deadline: Deadline,
  context: DrainContext,
): Promise<boolean> {
  const { logger, drainTimeoutMs } = context;
  if (deadline.expired) {
    logger.error(
      { hook: name },
      '[@fairmind/core] drain deadline passed before this close hook ran',
    );
    return false;
  }
  try {
    // The hook is called inside a promise so that a synchronous throw is caught like a rejection.
    const outcome = await Promise.race([
      Promise.resolve().then(() => hook(deadline.signal)),
      deadline.reached,
    ]);
    if (outcome === 'deadline') {
      logger.error(
        { hook: name, drainTimeoutMs },
        '[@fairmind/core] close hook did not finish within the drain deadline; raise drainTimeoutMs or make the hook honour its abort signal',
      );
      return false;
    }
    return true;
  } catch (error) {
    logger.error({ hook: name, err: error }, '[@fairmind/core] close hook failed');
    return false;
  }
}

/**
 * Runs every hook once, last registered first, one at a time. A failed or late hook is logged
 * and the rest still run: each releases its own resource. Resolves true when all finished in
 * time.
 */
export async function drainHooks(reason: string, context: DrainContext): Promise<boolean> {
  const { hooks, logger, drainTimeoutMs } = context;
  logger.info({ reason, hooks: hooks.length, drainTimeoutMs }, '[@fairmind/core] shutting down');
  const deadline = startDeadline(drainTimeoutMs);
  let ok = true;
  for (const entry of [...hooks].reverse()) {
    if (!(await runHook(entry, deadline, context))) ok = false;
  }
  deadline.clear();
  logger.info({ ok }, '[@fairmind/core] shutdown complete');
  return ok;
}
