// The password worker: bcrypt is pure JavaScript and takes a quarter of a second at cost 12,
// so it runs here, on its own thread, never on the event loop that serves requests. It is
// an entry file of its own in the build and is loaded by path (see ./index.ts).
import { parentPort } from 'node:worker_threads';
import { compareSync, genSaltSync, hashSync } from 'bcryptjs';

/** A job from the pool. */
export type PasswordJob =
  | { readonly id: number; readonly op: 'hash'; readonly password: string; readonly cost: number }
  | {
      readonly id: number;
      readonly op: 'compare';
      readonly password: string;
      readonly hash: string;
    };

/** The worker's answer to one job. */
export type PasswordResult =
  | { readonly id: number; readonly ok: true; readonly value: string | boolean }
  | { readonly id: number; readonly ok: false; readonly message: string };

const port = parentPort;
if (port === null) {
  throw new Error('[@fairmind/auth] the password worker must run in a worker thread');
}
port.on('message', (job: PasswordJob) => {
  let result: PasswordResult;
  try {
    const value =
      job.op === 'hash'
        ? hashSync(job.password, genSaltSync(job.cost))
        : compareSync(job.password, job.hash);
    result = { id: job.id, ok: true, value };
  } catch (error) {
    result = { id: job.id, ok: false, message: error instanceof Error ? error.message : 'failed' };
  }
  port.postMessage(result);
});
