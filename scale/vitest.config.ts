import { defineProject } from 'vitest/config';
import { sharedAliases } from '../vitest.shared.js';

export default defineProject({
  resolve: { alias: sharedAliases },
  test: {
    sequence: { groupOrder: 1 },
    name: 'scale',
    globalSetup: ['@fairmind/testing/global-setup'],
    include: ['test/**/*.test.ts'],
    // Each file starts engines of its own (six Redis nodes, a PostgreSQL cluster, nginx).
    hookTimeout: 90_000,
    testTimeout: 60_000,
  },
});
