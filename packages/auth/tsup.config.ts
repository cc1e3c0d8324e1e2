import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.shared.js';

// The password worker is an entry of its own: worker_threads loads it by file, next to the
// module that starts it, from the ESM and the CJS build alike.
export default defineConfig(
  packageBuild({
    index: 'src/index.ts',
    redis: 'src/redis/index.ts',
    sql: 'src/sql/index.ts',
    routes: 'src/routes/index.ts',
    'password-worker': 'src/passwords/worker.ts',
  }),
);
