import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.shared.js';

// src/cli/index.ts starts with a shebang, which esbuild keeps on entry files.
export default defineConfig(packageBuild({ index: 'src/index.ts', cli: 'src/cli/index.ts' }));
