import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ProcessResult, runTypeScript, useTestDatabase } from '@fairmind/testing';
import { afterAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, 'index.ts');
// Resolved here, so the CLI can run in any directory (tsx is the workspace's dev dependency).
const pgDatabase = useTestDatabase();

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function workDir(files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fm-migrate-cli-'));
  dirs.push(dir);
  await mkdir(join(dir, 'migrations'));
  for (const [name, text] of Object.entries(files)) {
    await writeFile(join(dir, 'migrations', name), text);
  }
  return dir;
}

/** Runs the CLI from its TypeScript source, in `cwd`, with `DATABASE_URL` set or removed. */
function run(args: string[], options: { cwd?: string; url?: string } = {}): Promise<ProcessResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['DATABASE_URL'];
  if (options.url !== undefined) env['DATABASE_URL'] = options.url;
  return runTypeScript(cli, { args, cwd: options.cwd ?? tmpdir(), env });
}

// Each run() is a cold Node process that compiles the CLI through tsx: about 2.5 s idle, and
// a test runs up to six. 14 s of the 30 s default on an idle machine became a timeout on a
// loaded one; what is under test is what the CLI prints and exits with, not how fast it starts.
const CLI_TEST = { timeout: 120_000 };

const files = {
  '001_users.sql': 'create table users (id integer primary key, email text not null);',
  '002_posts.sql': 'create table posts (id integer primary key, user_id integer);',
  '010_index.sql': '-- fairmind:no-transaction\ncreate index posts_user on posts (user_id);',
};

describe('fairmind-migrate usage', CLI_TEST, () => {
  it('prints help with --help and exits 0', async () => {
    const result = await run(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: fairmind-migrate <command>');
    expect(result.stdout).toContain('--dir <path>');
    expect(result.stderr).toBe('');
  });

  it.each([
    [[], 'a command is required'],
    [['down'], 'unknown command "down"'],
    [['up', 'extra'], 'unexpected argument "extra"'],
    [['up', '--nope'], "Unknown option '--nope'"],
    [['up', '--dir'], "Option '--dir <value>' argument missing"],
  ])('exits 2 with the usage on bad usage: %j', async (args, reason) => {
    const result = await run(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(reason);
    expect(result.stderr).toContain('Usage: fairmind-migrate');
    expect(result.stdout).toBe('');
  });
});

describe('fairmind-migrate on SQLite', CLI_TEST, () => {
  it('plans, applies, reports status, and fails on an edited file with exit 1', async () => {
    const cwd = await workDir(files);
    const url = `sqlite:${join(cwd, 'app.db')}`;

    const plan = await run(['plan'], { cwd, url });
    expect(plan.code).toBe(0);
    expect(plan.stdout.split('\n')).toEqual([
      'VERSION  NAME   TRANSACTION  FILE',
      '1        users  yes          001_users.sql',
      '2        posts  yes          002_posts.sql',
      '10       index  no           010_index.sql',
      '3 migrations would be applied.',
      '',
    ]);

    const up = await run(['up'], { cwd, url });
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(
      /^applied 001_users\.sql \(\d+ ms\)\napplied 002_posts\.sql \(\d+ ms\)\napplied 010_index\.sql \(\d+ ms\)\nApplied 3 migrations\.\n$/,
    );

    const status = await run(['status'], { cwd, url });
    expect(status.code).toBe(0);
    const lines = status.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('VERSION  NAME   STATE    APPLIED AT');
    expect(lines[1]).toMatch(/^1 {8}users {2}applied {2}\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    expect(lines[3]).toMatch(/^10 {7}index {2}applied/);
    expect(lines[4]).toBe('3 applied');

    const again = await run(['up'], { cwd, url });
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('Nothing to apply: the database is up to date.\n');

    await writeFile(join(cwd, 'migrations', '002_posts.sql'), 'create table posts (id bigint);');
    const changed = await run(['up'], { cwd, url });
    expect(changed.code).toBe(1);
    expect(changed.stderr).toContain('002_posts.sql was changed after it was applied');
    expect(changed.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(changed.stderr).not.toMatch(/\n\s+at /);
    const changedStatus = await run(['status'], { cwd, url });
    expect(changedStatus.code).toBe(0);
    expect(changedStatus.stdout).toContain('2 applied, 1 changed');
  });

  it('takes --dir and --table, and reports a failing file with exit 1', async () => {
    const cwd = await workDir();
    const dir = join(cwd, 'db', 'sql');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, '001_ok.sql'), 'create table ok (id integer);');
    await writeFile(join(dir, '002_bad.sql'), 'insert into missing_table values (1);');
    const url = `sqlite:${join(cwd, 'app.db')}`;
    const up = await run(['up', '--dir', dir, '--table', 'applied_sql'], { cwd, url });
    expect(up.code).toBe(1);
    expect(up.stdout).toMatch(/^applied 001_ok\.sql/);
    expect(up.stderr).toMatch(
      /^fairmind-migrate: migration .*002_bad\.sql failed and was rolled back/,
    );
    const status = await run(['status', '--dir', dir, '--table', 'applied_sql'], { cwd, url });
    expect(status.stdout).toContain('1 applied, 1 pending');
    const otherTable = await run(['status', '--dir', dir], { cwd, url });
    expect(otherTable.stdout).toContain('2 pending');
  });

  it('uses the SQLite default without DATABASE_URL, and fails clearly without a directory', async () => {
    const cwd = await workDir(files);
    const up = await run(['up'], { cwd });
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('Applied 3 migrations.');
    expect((await run(['plan'], { cwd })).stdout).toBe(
      'Nothing to apply: the database is up to date.\n',
    );

    const missing = await run(['status', '--dir', 'nowhere'], { cwd });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read the migrations directory nowhere');
  });
});

describe('fairmind-migrate on PostgreSQL', CLI_TEST, () => {
  it('applies and reports status from DATABASE_URL', async () => {
    const cwd = await workDir(files);
    const url = pgDatabase.url;
    const up = await run(['up'], { cwd, url });
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('Applied 3 migrations.');
    const status = await run(['status'], { cwd, url });
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('3 applied');
    expect(status.stdout).toMatch(/^2 {8}posts {2}applied {2}\d{4}-/m);
    const plan = await run(['plan'], { cwd, url });
    expect(plan.stdout).toBe('Nothing to apply: the database is up to date.\n');
  });
});
