import { defineConfig } from 'vitest/config';

// Run-wide settings; the projects are listed in vitest.workspace.ts. vitest would use
// cores - 1 workers, which is one on a two-core machine: test files would then never run in
// parallel and the isolation test in packages/testing could not prove anything. The suites
// mostly wait on PostgreSQL, Redis and child processes, so four forks keep two cores busy.
export default defineConfig({
  test: {
    pool: 'forks',
    poolOptions: { forks: { minForks: 2, maxForks: 4 } },
  },
});
