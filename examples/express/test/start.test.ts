import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ServerProcess, startServer } from '@fairmind/testing';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'fairmind-start-'));
const servers: ServerProcess[] = [];
afterAll(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
  rmSync(dir, { recursive: true, force: true });
});

describe("README's start command", () => {
  it('brings up two instances started at the same moment, on one SQLite file, from source', async () => {
    // `pnpm start` as a user runs it: no build step, the packages' sources through the
    // @fairmind/source condition. Both run the migrations against the same new file.
    const env = { DATABASE_URL: `sqlite:${join(dir, 'fairmind.db')}`, LOG_LEVEL: 'info' };
    const started = await Promise.all([
      startServer({ command: ['pnpm', 'start'], cwd: root, env }),
      startServer({ command: ['pnpm', 'start'], cwd: root, env }),
    ]);
    servers.push(...started);
    for (const server of started) {
      const response = await fetch(`${server.base}/health/live`);
      expect(response.status).toBe(200);
      expect(server.output()).toContain('--conditions=@fairmind/source');
      expect(server.output()).not.toMatch(/tsup|run build/);
    }
  });
});
