import { describe, expect, it } from 'vitest';
import {
  authGuard,
  type Exchange,
  type FairmindState,
  type HeaderRecord,
  jsonReply,
  type Middleware,
  problemReply,
} from '../contract/index.js';
import { FairmindError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import {
  applyChain,
  checkGuard,
  clientErrorMessage,
  compressionOf,
  handlerReply,
  isGuarded,
  keptHeaders,
  type PendingResponse,
  useChain,
  useScope,
  webExchange,
  withRequestId,
} from './index.js';

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger: Logger & { lines: string[] } = {
    lines,
    error: (_fields, message) => lines.push(`error ${message}`),
    warn: (_fields, message) => lines.push(`warn ${message}`),
    info() {},
    debug() {},
    child: () => logger,
  };
  return logger;
}

// A response not sent yet, recording what the chain did to it.
function pending(): PendingResponse & {
  headerRecord: HeaderRecord;
  sent: unknown[];
  log: string[];
} {
  const headerRecord: HeaderRecord = { vary: 'Origin' };
  const sent: unknown[] = [];
  const log: string[] = [];
  return {
    headerRecord,
    sent,
    log,
    decided: (decision) => log.push(`decided ${decision.reply?.status ?? 'pass'}`),
    headers: {
      getHeader: (name) => headerRecord[name],
      setHeader: (name, value) => {
        headerRecord[name] = value;
      },
    },
    send: (reply) => sent.push(reply),
  };
}

const exchange = (): Exchange => webExchange(new Request('http://h/models'), '192.0.2.1');

describe('applyChain', () => {
  const headers: Middleware = () => ({ headers: { vary: 'Accept', 'x-frame-options': 'DENY' } });

  it('puts the headers on the response and lets the request go on, synchronously', () => {
    const response = pending();
    const go = applyChain(
      { pkg: '@fairmind/x', logger: recordingLogger(), chain: [headers] },
      exchange(),
      response,
    );
    expect(go).toBe(true);
    expect(response.log).toEqual(['decided pass']);
    expect(response.headerRecord).toEqual({ vary: 'Origin, Accept', 'x-frame-options': 'DENY' });
    expect(response.sent).toEqual([]);
  });

  it("sends a middleware's reply, after the decision is seen, and logs a 5xx", async () => {
    const response = pending();
    const logger = recordingLogger();
    const broken: Middleware = async () => {
      throw new Error('redis down');
    };
    const go = applyChain(
      { pkg: '@fairmind/x', logger, chain: [headers, broken] },
      exchange(),
      response,
    );
    expect(go).toBeInstanceOf(Promise);
    expect(await go).toBe(false);
    expect(response.log).toEqual(['decided 500']);
    expect(response.sent).toMatchObject([{ status: 500, headers: { 'x-frame-options': 'DENY' } }]);
    expect(response.headerRecord).toEqual({ vary: 'Origin' });
    expect(logger.lines).toEqual(['error [@fairmind/x] GET /models failed with 500']);
  });
});

describe('handlerReply', () => {
  it("is the handler's reply, or the problem for what it threw", async () => {
    const logger = recordingLogger();
    const ok = await handlerReply(
      { pkg: '@fairmind/x', logger },
      () => jsonReply(200, 1),
      exchange(),
      null,
    );
    expect(ok).toMatchObject({ status: 200, body: '1' });
    const thrown = Object.assign(new Error('no'), { status: 409 });
    const lift = (error: unknown) =>
      error === thrown ? new FairmindError('CONFLICT', 409, 'Taken.') : error;
    const failing = () => Promise.reject(thrown);
    const lifted = await handlerReply(
      { pkg: '@fairmind/x', logger, lift },
      failing,
      exchange(),
      null,
    );
    expect(lifted).toMatchObject({
      status: 409,
      headers: { 'content-type': 'application/problem+json' },
    });
    const unlifted = await handlerReply({ pkg: '@fairmind/x', logger }, failing, exchange(), null);
    expect(unlifted.status).toBe(500);
    expect(logger.lines).toEqual(['error [@fairmind/x] GET /models failed with 500']);
  });
});

describe('webExchange', () => {
  it('takes the request as it is and TLS from the scheme', () => {
    const request = new Request('https://h/a');
    expect(webExchange(request, '192.0.2.1')).toEqual({
      request,
      clientAddress: '192.0.2.1',
      secure: true,
      state: {},
    });
    expect(webExchange(new Request('http://h/a'), '').secure).toBe(false);
  });
});

describe('client errors of a framework', () => {
  it("tell the client the framework's message, or that the request was refused", () => {
    expect(clientErrorMessage('@fairmind/x', new Error('Bad JSON'))).toBe(
      '[@fairmind/x] Bad JSON: fix it and send it again.',
    );
    expect(clientErrorMessage('@fairmind/x', { message: 'not an Error' })).toBe(
      '[@fairmind/x] The request was refused: fix it and send it again.',
    );
  });

  it("keep their response's headers but those of its body", () => {
    const response = new Response('no', {
      headers: { 'www-authenticate': 'Basic', 'content-type': 'text/plain', 'content-length': '2' },
    });
    expect(keptHeaders(response)).toEqual({ 'www-authenticate': 'Basic' });
    expect(keptHeaders({ headers: {} })).toBeUndefined();
  });
});

describe('use() arguments', () => {
  const one: Middleware = () => undefined;

  it('make one middleware or an array a chain of its own, and refuse the rest', () => {
    expect(useChain('@fairmind/x', one)).toEqual([one]);
    const given = [one, one];
    const chain = useChain('@fairmind/x', given);
    expect(chain).toEqual(given);
    expect(chain).not.toBe(given);
    expect(() => useChain('@fairmind/x', undefined)).toThrow(/^\[@fairmind\/x\] use\(\) takes/);
    expect(() => useChain('@fairmind/x', [one, 'no'])).toThrow(/function/);
    const lift = (error: unknown) => error;
    expect(useScope('@fairmind/x', one, {}, lift)).toMatchObject({
      pkg: '@fairmind/x',
      chain: [one],
    });
  });

  it('know a guard, alone or last, and refuse anything else where a guard is required', () => {
    const guard = authGuard(() => undefined);
    expect(isGuarded(guard)).toBe(true);
    expect(isGuarded([one, guard])).toBe(true);
    expect(isGuarded([guard, one])).toBe(false);
    expect(isGuarded(one)).toBe(false);
    expect(isGuarded([])).toBe(false);
    expect(checkGuard('@fairmind/x', 'guarded', guard)).toBe(guard);
    expect(() => checkGuard('@fairmind/x', 'guarded', one)).toThrow(
      /^\[@fairmind\/x\] guarded\(\) takes an AuthGuard/,
    );
  });

  it('ask for compression only when it is given', () => {
    const create = (options: { level?: number }) => ({ options });
    expect(compressionOf(undefined, create)).toBeUndefined();
    expect(compressionOf(false, create)).toBeUndefined();
    expect(compressionOf({}, create)).toEqual({ options: {} });
  });
});

describe('withRequestId', () => {
  const exchange = (requestId?: string): Exchange => ({
    request: { method: 'GET', url: '/x', headers: { get: () => null } },
    clientAddress: '127.0.0.1',
    secure: false,
    state: requestId === undefined ? {} : ({ requestId } as FairmindState),
  });

  it('puts the request id into problem bodies, and leaves everything else alone', () => {
    const problem = problemReply(new FairmindError('CONFLICT', 409, 'Taken.'));
    const stamped = withRequestId(problem, exchange('req-1'));
    expect(JSON.parse(stamped.body ?? '')).toEqual({
      ...JSON.parse(problem.body ?? ''),
      requestId: 'req-1',
    });
    expect(withRequestId(problem, exchange())).toBe(problem);
    expect(withRequestId(problem, undefined)).toBe(problem);
    expect(withRequestId(stamped, exchange('req-2'))).toBe(stamped);
    const json = { status: 200, headers: { 'content-type': 'application/json' }, body: '{}' };
    expect(withRequestId(json, exchange('req-1'))).toBe(json);
    const empty = {
      status: 429,
      headers: { 'content-type': 'application/problem+json' },
      body: '{}',
    };
    expect(withRequestId(empty, exchange('a"b')).body).toBe('{"requestId":"a\\"b"}');
  });
});
