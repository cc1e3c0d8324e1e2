import { defineProject } from 'vitest/config';
import { sharedAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: sharedAliases },
  test: {
    sequence: { groupOrder: 1 },
    name: 'example-own-app',
    globalSetup: ['@fairmind/testing/global-setup'],
    hookTimeout: 60_000,
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
