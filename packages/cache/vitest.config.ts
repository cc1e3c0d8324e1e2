import { defineProject } from 'vitest/config';
import { sharedAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: sharedAliases },
  test: {
    // After the testing project (groupOrder 0), whose isolation files must run at once.
    sequence: { groupOrder: 1 },
    name: 'cache',
    include: ['src/**/*.test.ts'],
    globalSetup: ['../testing/src/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
