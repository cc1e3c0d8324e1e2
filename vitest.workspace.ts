import { defineWorkspace } from 'vitest/config';

// Each package, example and the scale-out suite owns a vitest.config.ts that names its project; this file only
// says where they are, so `vitest run` at the root runs every project in one process tree.
export default defineWorkspace([
  'packages/*/vitest.config.ts',
  'examples/*/vitest.config.ts',
  'scale/vitest.config.ts',
]);
