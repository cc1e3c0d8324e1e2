import { defineProject } from 'vitest/config';
import { sharedAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: sharedAliases },
  test: {
    name: 'edge',
    include: ['src/**/*.test.ts'],
    globalSetup: ['../testing/src/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
