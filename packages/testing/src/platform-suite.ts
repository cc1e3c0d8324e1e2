import { describe } from 'vitest';
import { useTestDatabase } from './hooks.js';
import { testAccessControl } from './platform-suite/access.js';
import { exampleName, useExampleServer } from './platform-suite/example-server.js';
import { testAuditTrail, testGovernance } from './platform-suite/governance.js';
import { testBadRequests, testParserRefusals } from './platform-suite/malformed-input.js';
import { testOperations } from './platform-suite/operations.js';
import { testSessions } from './platform-suite/sessions.js';

export { describeHealthStates } from './platform-suite/health-states.js';

const modes = [
  { name: 'SQLite + memory', postgres: false },
  { name: 'PostgreSQL + Redis', postgres: true },
] as const;

/** Options of {@link describePlatformContract}. */
export interface PlatformContractOptions {
  /**
   * Run the contract once, on PostgreSQL reached through a PgBouncer in transaction mode (with
   * three server connections) and Redis, instead of on SQLite and on PostgreSQL directly.
   * @default false
   */
  pgbouncer?: boolean | undefined;
}

/**
 * The end-to-end contract of the FairMind platform (HTTP-API.md), written once and run against
 * every example server: each example's test file calls {@link describePlatformContract} with
 * its own folder, and the suite starts that example's `src/main.ts` as a child process, on
 * SQLite + memory and on PostgreSQL + Redis, and walks the whole API over HTTP. The same
 * assertions for Express, Fastify and Hono are what make the adapters interchangeable.
 *
 * @example
 * ```ts
 * // examples/fastify/test/platform.test.ts
 * import { dirname, join } from 'node:path';
 * import { fileURLToPath } from 'node:url';
 * import { describePlatformContract } from '@fairmind/testing';
 *
 * describePlatformContract(join(dirname(fileURLToPath(import.meta.url)), '..'));
 * ```
 */
export function describePlatformContract(
  exampleRoot: string,
  options: PlatformContractOptions = {},
): void {
  const example = exampleName(exampleRoot);
  const pgDatabase = useTestDatabase();
  const chosen = options.pgbouncer
    ? [{ name: 'PostgreSQL through PgBouncer (transaction mode) + Redis', postgres: true }]
    : modes;

  describe.each(chosen)(`${example} on $name`, ({ postgres }) => {
    const suite = useExampleServer({
      exampleRoot,
      postgres,
      database: pgDatabase,
      pgbouncer: options.pgbouncer,
    });
    // The groups add no describe level of their own, so every test keeps its title. They share
    // one server and run in this order: the audit trail reads the failed logins of the
    // session tests.
    testOperations(suite);
    testSessions(suite);
    testAccessControl(suite);
    testGovernance(suite);
    testAuditTrail(suite);
    testParserRefusals(suite);
    testBadRequests(suite);
  });
}
