/**
 * One contender of the HTTP matrix in its own process, so its CPU time and peak RSS are its
 * own: builds the server named on the command line, listens on a free loopback port and
 * tells the parent which, over IPC. Started by http/index.ts; stops on SIGTERM.
 */
import type { AddressInfo } from 'node:net';
import { CONTENDERS, type Services } from './contenders.js';

const name = process.argv[2] ?? '';
const contender = CONTENDERS[name];
if (contender === undefined) {
  throw new Error(
    `[bench] unknown contender "${name}": one of ${Object.keys(CONTENDERS).join(', ')}`,
  );
}
const services = JSON.parse(process.env['FAIRMIND_BENCH_SERVICES'] ?? 'null') as Services | null;
if (services === null) throw new Error('[bench] FAIRMIND_BENCH_SERVICES is not set');
const server = await contender.build(services);
// The same backlog for every contender: a burst of connections waits in the kernel's queue.
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.once('SIGTERM', () => process.exit(0));
