import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describePlatformContract } from '@fairmind/testing';

// The whole HTTP contract, shared by every example: see packages/testing/src/platform-suite.ts.
describePlatformContract(join(dirname(fileURLToPath(import.meta.url)), '..'));
