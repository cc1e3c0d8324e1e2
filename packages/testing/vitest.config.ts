import { defineProject } from 'vitest/config';

// Files run in parallel through the root vitest.config.ts (2 to 4 forks); the isolation
// test depends on that. This project runs first, before every other (groupOrder 0, theirs
// is 1): isolation-a and isolation-b then start together on free workers, instead of one of
// them waiting, holding a worker, until the long end-to-end files let the other in.
export default defineProject({
  test: {
    name: 'testing',
    include: ['src/**/*.test.ts'],
    globalSetup: ['./src/global-setup.ts'],
    pool: 'forks',
    sequence: { groupOrder: 0 },
    // Its tests start, stop and restart private PostgreSQL and Redis servers.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
