import { type Reader, sql } from '@fairmind/db-pool';

/** `GET /api/v1/dashboard`. */
export interface Dashboard {
  models: { total: number; byRisk: { low: number; medium: number; high: number } };
  assessments: { total: number; passed: number; failed: number; passRate: number };
  generatedAt: string;
}

/**
 * Two aggregate queries, whatever the table sizes. `passRate` is passed / total rounded to
 * four places, and 0 when there is no assessment yet (not NaN, which JSON cannot carry).
 */
export async function computeDashboard(db: Reader): Promise<Dashboard> {
  const risks = await db.many<{ risk_level: string; n: number | string }>(
    sql`select risk_level, count(*) as n from models group by risk_level`,
  );
  const byRisk = { low: 0, medium: 0, high: 0 };
  for (const row of risks) {
    if (row.risk_level === 'low' || row.risk_level === 'medium' || row.risk_level === 'high') {
      byRisk[row.risk_level] = Number(row.n);
    }
  }
  const totals = await db.one<{ total: number | string; passed: number | string | null }>(
    sql`select count(*) as total, sum(case when passed then 1 else 0 end) as passed from assessments`,
  );
  const total = Number(totals.total);
  const passed = Number(totals.passed ?? 0);
  return {
    models: { total: byRisk.low + byRisk.medium + byRisk.high, byRisk },
    assessments: {
      total,
      passed,
      failed: total - passed,
      passRate: total === 0 ? 0 : Math.round((passed / total) * 10_000) / 10_000,
    },
    generatedAt: new Date().toISOString(),
  };
}
