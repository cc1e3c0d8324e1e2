// The platform's whole end-to-end contract (the suite every example runs) on example-express,
// with PostgreSQL reached through Debian's PgBouncer 1.18 in transaction mode: migrations at
// start-up, sessions, RBAC, governance, audit. db-pool finds the pooler by itself (the
// platform leaves `prepare` at its default) and sends statements unnamed.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describePlatformContract } from '@fairmind/testing';

const example = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'express');
describePlatformContract(example, { pgbouncer: true });
