import { defineProject } from 'vitest/config';

// Files run in parallel through the root vitest.config.ts (2 to 4 forks); the isolation
// test depends on that.
export default defineProject({
  test: {
    name: 'testing',
    include: ['src/**/*.test.ts'],
    globalSetup: ['./src/global-setup.ts'],
    pool: 'forks',
  },
});
