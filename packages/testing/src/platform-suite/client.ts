import { expect } from 'vitest';

/** The tokens a login answers with. */
export interface Session {
  accessToken: string;
  refreshToken: string;
}

/** Options of one {@link ApiClient} call. */
export interface CallOptions {
  token?: string;
  /** Sent as JSON unless it is a string, which is sent as is (for malformed bodies). */
  body?: unknown;
  headers?: Record<string, string>;
}

/** A small HTTP client for the FairMind API of one running example. */
export type ApiClient = ReturnType<typeof client>;

/**
 * Answers are read whole and parsed as JSON when they are JSON, so a test can assert on the
 * status, the headers, the text and the document alike.
 */
export function client(base: string) {
  async function call(method: string, path: string, options: CallOptions = {}) {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers['authorization'] = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] ??= 'application/json';
    const response = await fetch(`${base}${path}`, {
      method,
      headers,
      ...(options.body === undefined
        ? {}
        : { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return {
      status: response.status,
      headers: response.headers,
      text,
      json: json as Record<string, unknown> & Array<unknown>,
    };
  }
  return {
    call,
    async login(email: string, password: string): Promise<Session> {
      const response = await call('POST', '/auth/login', { body: { email, password } });
      expect(response.status).toBe(200);
      return response.json as unknown as Session;
    },
  };
}
