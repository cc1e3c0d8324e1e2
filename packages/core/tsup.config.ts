import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.shared.js';

export default defineConfig(
  packageBuild({
    index: 'src/index.ts',
    logger: 'src/logger/index.ts',
    metrics: 'src/metrics/index.ts',
    lifecycle: 'src/lifecycle/index.ts',
    adapter: 'src/adapter/index.ts',
    node: 'src/node/index.ts',
    rules: 'src/rules/index.ts',
  }),
);
