import { defineProject } from 'vitest/config';
import { sharedAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: sharedAliases },
  test: {
    // After the testing project (groupOrder 0), whose isolation files must run at once.
    sequence: { groupOrder: 1 },
    name: 'example-hono',
    globalSetup: ['@fairmind/testing/global-setup'],
    hookTimeout: 60_000,
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
