/**
 * The platform benchmark's reference: bare Fastify answering the platform's own JSON, the
 * same text example-fastify sends for each path (FAIRMIND_BENCH_BODIES, a JSON object of
 * path to body), with nothing else: no log, headers, limit, token, cache or compression.
 * Each request serializes the parsed body again, as a Fastify route returning an object
 * does. Listens on PORT on loopback; stops on SIGTERM.
 */
import Fastify from 'fastify';

const bodies = JSON.parse(process.env['FAIRMIND_BENCH_BODIES'] ?? '{}') as Record<string, string>;
const app = Fastify();
for (const [path, text] of Object.entries(bodies)) {
  const body = JSON.parse(text) as unknown;
  app.get(path, async () => body);
}
await app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' });
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
