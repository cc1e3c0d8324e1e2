import { createRequire } from 'node:module';
import type * as IORedis from 'ioredis';
import type PG from 'pg';

// The global setup runs inside vite-node from whichever package's project asked for it, and
// vite resolves its bare imports from that package's folder, where pg and ioredis need not
// be installed. Requiring them relative to this file always finds this package's own copies.
const require = createRequire(import.meta.url);

export const pg = require('pg') as typeof PG;
export const { Redis } = require('ioredis') as typeof IORedis;
