import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.shared.js';

// The Node compression backend and the Redis store are subpaths: the policy, limiter and
// headers load on Web-standard runtimes without node:zlib, and their types never name ioredis,
// an optional peer that only `@fairmind/edge/redis` users install. The Web Response
// compressor is one too, so that an app that never compresses a fetch Response loads none of it.
export default defineConfig(
  packageBuild({
    index: 'src/index.ts',
    node: 'src/node/index.ts',
    redis: 'src/redis/index.ts',
    web: 'src/web/index.ts',
  }),
);
