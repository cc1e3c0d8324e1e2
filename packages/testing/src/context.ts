import { inject } from 'vitest';
import { PROVIDED } from './provided.js';
import { testingError } from './util.js';

export interface ServiceUrls {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly runId: string;
  /** The cluster's node URLs when the shared Redis is a Redis Cluster; empty otherwise. */
  readonly redisClusterNodes: readonly string[];
}

const MISSING_SETUP =
  'no service URLs were provided to this test file. Add ' +
  "globalSetup: ['@fairmind/testing/global-setup'] to the test options of this project's " +
  'vitest.config.ts (outside vitest, pass adminUrl / URLs explicitly).';

/** The PostgreSQL and Redis URLs and the run id that the global setup provided. */
export function serviceUrls(): ServiceUrls {
  let databaseUrl: string | undefined;
  let redisUrl: string | undefined;
  let runId: string | undefined;
  let clusterNodes: string | undefined;
  try {
    databaseUrl = inject(PROVIDED.databaseUrl);
    redisUrl = inject(PROVIDED.redisUrl);
    runId = inject(PROVIDED.runId);
    clusterNodes = inject(PROVIDED.redisClusterNodes);
  } catch (error) {
    // inject() throws when called outside a vitest worker; say what to do instead.
    throw testingError(MISSING_SETUP, error);
  }
  if (!databaseUrl || !redisUrl || !runId) throw testingError(MISSING_SETUP);
  const redisClusterNodes = clusterNodes ? clusterNodes.split(',') : [];
  return { databaseUrl, redisUrl, runId, redisClusterNodes };
}
