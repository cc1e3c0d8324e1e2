// Runs each server of docs/getting-started.md as a reader would (node server.mjs), and makes
// the requests its "Try it" section makes: the guide cannot drift from what the packages do.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const guide = readFileSync(new URL('../../../docs/getting-started.md', import.meta.url), 'utf8');
// Inside this package, so `@fairmind/*`, express, fastify and hono resolve as in an app.
const dir = fileURLToPath(new URL('../.getting-started/', import.meta.url));
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The first `js` block under a `### <title>` heading. */
function serverOf(title: string): string {
  const section = guide.split(`\n### ${title}\n`)[1];
  const block = section?.split('```js\n')[1]?.split('\n```')[0];
  if (block === undefined)
    throw new Error(`docs/getting-started.md has no js block under ${title}`);
  return block;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

async function start(title: string): Promise<{ base: string; child: ChildProcess }> {
  const port = await freePort();
  const file = `${dir}${title.replace(/\W/g, '')}.mjs`;
  writeFileSync(file, serverOf(title).replaceAll('3000', String(port)));
  const child = spawn(process.execPath, [file], {
    env: { ...process.env, JWT_SECRET: 'getting-started-secret-of-32-characters!' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  // It says so once it listens; bounded, and the output explains a failure.
  for (let waited = 0; !output.includes('listening on'); waited += 50) {
    if (waited > 20_000 || child.exitCode !== null) {
      child.kill();
      throw new Error(`${title} server did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { base: `http://127.0.0.1:${port}`, child };
}

describe.each(['Express', 'Fastify', 'Hono', 'node:http'])(
  'the %s server of the guide',
  (title) => {
    it('answers the requests of "Try it"', async () => {
      const { base, child } = await start(title);
      try {
        const anonymous = await fetch(`${base}/models`);
        expect(anonymous.status).toBe(401);
        expect(anonymous.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(anonymous.headers.get('x-frame-options')).toBe('DENY');
        expect(anonymous.headers.get('ratelimit')).toMatch(/^"default";r=\d+;t=\d+$/);

        const login = await fetch(`${base}/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'ada@example.com', password: 'correct horse' }),
        });
        expect(login.status).toBe(200);
        const { accessToken } = (await login.json()) as { accessToken: string };
        const models = await fetch(`${base}/models`, {
          headers: { authorization: `Bearer ${accessToken}` },
        });
        expect(models.status).toBe(200);
        expect(await models.json()).toMatchObject({ items: [], role: 'analyst' });

        const wrong = await fetch(`${base}/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'ada@example.com', password: 'not the password' }),
        });
        expect(wrong.status).toBe(401);
        const nowhere = await fetch(`${base}/nowhere`);
        expect(nowhere.status).toBe(404);
        expect(nowhere.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      } finally {
        child.kill();
      }
    });
  },
);
