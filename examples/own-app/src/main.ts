// Starts the notes service from the environment: DATABASE_URL (PostgreSQL), REDIS_URL,
// JWT_SECRET and PORT.
import { createLogger } from '@fairmind/core/logger';
import { createNotesApp } from './app.js';

const need = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`[example-own-app] set ${name} (see README.md)`);
  return value;
};

const logger = createLogger();
const notes = await createNotesApp({
  databaseUrl: need('DATABASE_URL'),
  redisUrl: need('REDIS_URL'),
  jwtSecret: need('JWT_SECRET'),
  logger,
});
const server = notes.app.listen(Number(process.env['PORT'] ?? 3000), () =>
  logger.info({}, `[example-own-app] listening on port ${process.env['PORT'] ?? 3000}`),
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => server.close(() => void notes.close()));
}
