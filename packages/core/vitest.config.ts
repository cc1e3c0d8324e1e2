import { defineProject } from 'vitest/config';
import { sharedAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: sharedAliases },
  test: {
    // After the testing project (groupOrder 0), whose isolation files must run at once.
    sequence: { groupOrder: 1 },
    name: 'core',
    include: ['src/**/*.test.ts'],
    // As in every project whose tests start real servers: redis-watch's stops and restarts a
    // Redis and waits out ioredis's back-off, about 4 s on an idle machine, and a full run's
    // load once took it past the 5 s default.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
