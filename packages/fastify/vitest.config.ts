import { defineProject } from 'vitest/config';
import { sharedAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: sharedAliases },
  test: {
    name: 'fastify',
    include: ['src/**/*.test.ts'],
    globalSetup: ['@fairmind/testing/global-setup'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
