// The HTTP client of the scale tests: one request, its status and JSON body, and never a
// throw, so a load loop counts every outcome.

/** What one request got: status 0 when it got no answer at all (refused, reset, timed out). */
export interface Answer {
  status: number;
  json: Record<string, unknown>;
  /** The body when it is not JSON (an nginx error page, say), for the failure report. */
  text?: string;
}

export interface CallOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string | undefined;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as `X-Forwarded-For`: the client a request stands for behind a proxy. */
  client?: string | undefined;
  /** @default 15000 */
  timeoutMs?: number;
}

export async function call(
  base: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Answer> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.client ? { 'x-forwarded-for': options.client } : {}),
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
    });
    text = await response.text();
  } catch {
    return { status: 0, json: {} };
  }
  try {
    return {
      status: response.status,
      json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  } catch {
    return { status: response.status, json: {}, text };
  }
}

/** The first admin every scale test's platform is started with. */
export const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' };

/**
 * The environment of an example server in these tests: the test settings, the admin above and
 * one JWT secret for every instance (tokens cross instances), plus the test's own.
 */
export function platformEnv(extra: Record<string, string>): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    FAIRMIND_ADMIN_EMAIL: ADMIN.email,
    FAIRMIND_ADMIN_PASSWORD: ADMIN.password,
    JWT_SECRET: 'a-shared-secret-of-at-least-32-characters',
    ...extra,
  };
}

/** Logs the admin in through `base` and returns the access token; fails the test otherwise. */
export async function login(base: string, client?: string): Promise<string> {
  const answer = await call(base, 'POST', '/auth/login', { body: ADMIN, client });
  if (answer.status !== 200) {
    throw new Error(
      `login through ${base} answered ${answer.status}: ${JSON.stringify(answer.json)}`,
    );
  }
  return answer.json['accessToken'] as string;
}
