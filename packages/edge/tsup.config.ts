import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.shared.js';

// The Node compression backend is a subpath so that the policy, limiter and headers load on
// Web-standard runtimes without node:zlib.
export default defineConfig(packageBuild({ index: 'src/index.ts', node: 'src/node/index.ts' }));
