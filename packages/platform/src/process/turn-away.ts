import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { FairmindError, problemReply } from '@fairmind/core';
import { writeReply } from '@fairmind/core/node';

/** The port closes once no request has come for this long (or the delay ends first). */
const QUIET_MS = 250;
const POLL_MS = 25;

/**
 * The first step of a drain with `SHUTDOWN_DELAY`: for at most `delayMs` the port stays open
 * and every request that arrives is answered 503 `SHUTTING_DOWN` with `Connection: close`,
 * and nothing else is done with it; resolves with how many were turned away once no request
 * has come for {@link QUIET_MS}, the delay is over, or `signal` aborts.
 *
 * Why not close the port at once: a balancer that learns only from failures (nginx without
 * active checks) keeps sending here until a request fails. The kernel completes connections
 * for us until the port closes, and closing resets those not yet accepted, after nginx has
 * written the request: a GET it may retry, a POST it may not (the write might have happened).
 * A 503 that says "nothing was done" is a failure nginx can retry for every method
 * (deploy/nginx/fairmind.conf) and counts against the instance, so it stops sending; the port
 * then closes while nothing is arriving.
 */
export function turnAwayNewRequests(
  server: Server,
  delayMs: number,
  signal: AbortSignal,
): Promise<number> {
  const refusal = problemReply(
    new FairmindError(
      'SHUTTING_DOWN',
      503,
      'This instance is shutting down and did not handle the request: send it again.',
      { headers: { 'retry-after': '1' }, expose: true },
    ),
    { connection: 'close' },
  );
  const began = Date.now();
  let last = began;
  let turnedAway = 0;
  // Until the process ends: a request that still comes (on a kept-alive socket while the
  // in-flight ones finish) is turned away the same way.
  server.removeAllListeners('request');
  const refuse = (_req: IncomingMessage, res: ServerResponse) => {
    last = Date.now();
    turnedAway++;
    writeReply(res, refusal);
  };
  const seen = () => {
    last = Date.now();
  };
  server.on('request', refuse);
  server.on('connection', seen);
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      const now = Date.now();
      if (!signal.aborted && now - last < QUIET_MS && now - began < delayMs) return;
      clearInterval(poll);
      server.off('connection', seen);
      resolve(turnedAway);
    }, POLL_MS);
  });
}
