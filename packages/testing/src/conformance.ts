import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** One server under comparison: the same application behind one adapter. */
export interface ConformanceTarget {
  readonly name: string;
  start(): Promise<{ base: string; close(): Promise<void> }>;
}

/** What a script call sees back, normalised so that two adapters can be compared. */
export interface Observed {
  readonly step: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string | null>>;
  readonly body: unknown;
}

export interface CallOptions {
  headers?: Record<string, string>;
  /** A JSON value, or a string sent as is. */
  body?: unknown;
}

/** The request script: the same calls, in the same order, against every target. */
export type ConformanceScript = (
  call: (
    step: string,
    method: string,
    path: string,
    options?: CallOptions,
  ) => Promise<Observed & { raw: unknown }>,
) => Promise<void>;

// Headers the contract speaks about; transport details (Date, Keep-Alive, Connection,
// Transfer-Encoding, Content-Length of bodies carrying fresh ids) are each framework's own.
const COMPARED = [
  'content-type',
  'content-encoding',
  'vary',
  'cache-control',
  'etag',
  'allow',
  'retry-after',
  'www-authenticate',
  'ratelimit-policy',
  'ratelimit',
  'x-request-id',
  'x-powered-by',
  'content-security-policy',
  'x-frame-options',
  'x-content-type-options',
  'referrer-policy',
  'strict-transport-security',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'access-control-allow-origin',
] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const JWT = /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/;
const ID_KEYS = new Set(['id', 'modelId', 'owner', 'createdBy', 'actorId']);
const VOLATILE_NUMBERS = new Set(['latencyMs', 'uptimeSeconds', 'expiresIn', 'retryAfterSeconds']);

/** Replaces what differs between two runs by design (ids, times, tokens, keys) by its kind. */
export function normaliseBody(value: unknown, key = ''): unknown {
  if (typeof value === 'string') {
    if (UUID.test(value)) return '<uuid>';
    if (ISO.test(value)) return '<time>';
    if (JWT.test(value)) return '<jwt>';
    if (/^fm_/.test(value)) return '<api-key>';
    if (key === 'nextCursor' || key === 'prefix') return `<${key}>`;
    if (ID_KEYS.has(key)) return '<id>';
    // Ids inside messages ("Model <id> does not exist").
    return value.replace(
      /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi,
      '<uuid>',
    );
  }
  if (typeof value === 'number' && VOLATILE_NUMBERS.has(key)) return '<number>';
  if (Array.isArray(value)) return value.map((item) => normaliseBody(item));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([name, inner]) => [name, normaliseBody(inner, name)]),
    );
  }
  return value;
}

function normaliseHeader(name: string, value: string | null): string | null {
  if (value === null) return null;
  if (name === 'vary') {
    return value
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean)
      .sort()
      .join(', ');
  }
  // Seconds until the window resets depend on when each run happened.
  if (name === 'ratelimit') return value.replace(/t=\d+/, 't=<s>');
  if (name === 'retry-after') return '<s>';
  if (name === 'content-type') return value.toLowerCase().replace(/;\s*/g, '; ');
  return value;
}

/** One call of the script, against one target's server at `base`. */
interface ObservedCall {
  readonly step: string;
  readonly method: string;
  readonly path: string;
  readonly options?: CallOptions | undefined;
}

async function observe(base: string, call: ObservedCall) {
  const { step, method, path, options = {} } = call;
  const headers: Record<string, string> = {
    'x-request-id': `conformance-${step.replace(/[^\w.:-]/g, '-')}`,
    ...options.headers,
  };
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  let raw: unknown = text;
  const type = response.headers.get('content-type') ?? '';
  if (type.includes('json') && text !== '') raw = JSON.parse(text) as unknown;
  const observed: Observed & { raw: unknown } = {
    step,
    status: response.status,
    headers: Object.fromEntries(
      COMPARED.map((name) => [name, normaliseHeader(name, response.headers.get(name))]),
    ),
    // Metrics text carries per-process counters; its shape is compared by content type only.
    body: type.startsWith('text/plain') ? '<text>' : normaliseBody(raw),
    raw,
  };
  return observed;
}

/** Options of {@link describeConformance}. */
export interface ConformanceOptions {
  /**
   * Statuses the first target must have answered with at least once, so that a script that
   * stopped early cannot pass by comparing too little.
   * @default [200, 201, 204, 400, 401, 403, 404, 405, 413, 429] (the platform's script)
   */
  readonly statuses?: readonly number[] | undefined;
}

const PLATFORM_STATUSES = [200, 201, 204, 400, 401, 403, 404, 405, 413, 429];

/**
 * Runs one request script against every target and asserts that each answers exactly like
 * the first: the same statuses, contract headers and (normalised) bodies, step by step.
 */
export function describeConformance(
  title: string,
  targets: readonly ConformanceTarget[],
  script: ConformanceScript,
  options: ConformanceOptions = {},
): void {
  describe(title, () => {
    const results = new Map<string, Observed[]>();

    beforeAll(async () => {
      for (const target of targets) {
        const server = await target.start();
        const seen: Observed[] = [];
        try {
          await script(async (step, method, path, options) => {
            const observed = await observe(server.base, { step, method, path, options });
            seen.push({
              step: observed.step,
              status: observed.status,
              headers: observed.headers,
              body: observed.body,
            });
            return observed;
          });
        } finally {
          await server.close();
        }
        results.set(target.name, seen);
      }
    }, 120_000);

    afterAll(() => results.clear());

    const [reference, ...others] = targets;
    for (const target of others) {
      it(`${target.name} answers exactly like ${reference?.name}`, () => {
        const expected = results.get(reference?.name ?? '') ?? [];
        const actual = results.get(target.name) ?? [];
        expect(actual.map((entry) => entry.step)).toEqual(expected.map((entry) => entry.step));
        for (let index = 0; index < expected.length; index++) {
          expect(actual[index], (expected[index] as Observed).step).toEqual(expected[index]);
        }
      });
    }

    it('ran a script with every kind of answer', () => {
      const statuses = new Set(
        (results.get(reference?.name ?? '') ?? []).map((entry) => entry.status),
      );
      for (const status of options.statuses ?? PLATFORM_STATUSES)
        expect(statuses).toContain(status);
    });
  });
}
