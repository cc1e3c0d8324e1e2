import { json, type Route } from '@fairmind/edge';
import type { Registry } from 'prom-client';
import { checkReadiness, type ReadinessDeps } from './readiness.js';
import { healthReport, type ReportDeps } from './report.js';

type HealthDeps = ReadinessDeps & ReportDeps;

/** `/health`, `/health/live`, `/health/ready` and `/metrics` of HTTP-API.md. */
export function createHealth(deps: HealthDeps) {
  return {
    routes(registry: Registry): Array<[string, string, Route]> {
      return [
        [
          'GET',
          '/health/live',
          { permission: null, handle: async () => json(200, { status: 'ok' }) },
        ],
        [
          'GET',
          '/health/ready',
          {
            permission: null,
            async handle() {
              await checkReadiness(deps);
              return json(200, { status: 'ok' });
            },
          },
        ],
        ['GET', '/health', { permission: null, handle: () => healthReport(deps) }],
        [
          'GET',
          '/metrics',
          {
            permission: null,
            async handle() {
              return {
                status: 200,
                headers: { 'content-type': registry.contentType },
                body: await registry.metrics(),
              };
            },
          },
        ],
      ];
    },
  };
}
