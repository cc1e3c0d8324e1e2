import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeHealthStates, describePlatformContract } from '@fairmind/testing';

// The whole HTTP contract, shared by every example: see packages/testing/src/platform-suite.ts.
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
describePlatformContract(root);
describeHealthStates(root);
