// Runs some of the repository's own vitest projects again in a child vitest, against other
// engines (PgBouncer, a Redis Cluster), and sorts their failures into those a list expects
// and the rest.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);

export interface SuiteRun {
  readonly total: number;
  readonly passed: number;
  /** Failed tests listed in `expected`. */
  readonly expectedFailures: number;
  /** Failed tests not listed, each with the start of its failure message. */
  readonly unexpected: string[];
  /** Every failure message, stdout and stderr of the child, for checks on their text. */
  readonly text: string;
}

interface Report {
  numTotalTests: number;
  numPassedTests: number;
  testResults: {
    assertionResults: { title: string; status: string; failureMessages: string[] }[];
  }[];
}

/**
 * `vitest run --project <each of projects> <files>` with `env`, read back from its JSON
 * report. `expected` maps the titles of tests that may fail here to why.
 */
export async function runSuites(options: {
  projects: readonly string[];
  files?: readonly string[];
  env: NodeJS.ProcessEnv;
  expected: Readonly<Record<string, string>>;
}): Promise<SuiteRun> {
  const dir = mkdtempSync(join(tmpdir(), 'fm-suite-run-'));
  const output = join(dir, 'report.json');
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [
        join(root, 'node_modules', 'vitest', 'vitest.mjs'),
        'run',
        ...options.projects.flatMap((project) => ['--project', project]),
        ...['--reporter=json', `--outputFile=${output}`, ...(options.files ?? [])],
      ],
      { cwd: root, env: options.env, timeout: 280_000, maxBuffer: 64 * 1024 * 1024 },
    ).catch((error: { code?: unknown; stdout?: string; stderr?: string }) => {
      // vitest exits 1 when a test fails; the report says which.
      if (error.code !== 1) throw error;
      return { stdout: error.stdout ?? '', stderr: error.stderr ?? '' };
    });
    const report = JSON.parse(readFileSync(output, 'utf8')) as Report;
    const failed = report.testResults
      .flatMap((file) => file.assertionResults)
      .filter((result) => result.status !== 'passed');
    const unexpected = failed.filter((result) => !(result.title in options.expected));
    return {
      total: report.numTotalTests,
      passed: report.numPassedTests,
      expectedFailures: failed.length - unexpected.length,
      unexpected: unexpected.map(
        (result) => `${result.title}\n${result.failureMessages.join('\n').slice(0, 600)}`,
      ),
      text: [...failed.flatMap((result) => result.failureMessages), stdout, stderr].join('\n'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
