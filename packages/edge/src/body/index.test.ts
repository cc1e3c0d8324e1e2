import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import type { FairmindError } from '@fairmind/core';
import { afterEach, describe, expect, it } from 'vitest';
import { rawRequest, serveNode, type TestServer } from '../test-support/index.js';
import { bodyLimit, DEFAULT_BODY_LIMIT, readBody, readJsonBody } from './index.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A body stream that counts how many chunks were pulled from it. */
function counting(chunks: number, size: number) {
  const stats = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (stats.pulled >= chunks) {
        controller.close();
        return;
      }
      stats.pulled++;
      controller.enqueue(new Uint8Array(size).fill(0x20));
    },
  });
  return { stream, stats };
}

async function rejection(promise: Promise<unknown>): Promise<FairmindError> {
  try {
    await promise;
  } catch (error) {
    return error as FairmindError;
  }
  throw new Error('expected a rejection');
}

const json = (
  body: BodyInit | null,
  headers: Record<string, string> = { 'content-type': 'application/json' },
) =>
  new Request('http://localhost/', {
    method: 'POST',
    body,
    headers,
    duplex: 'half',
  } as RequestInit);

describe('readJsonBody', () => {
  it('parses JSON, including +json types and a charset', async () => {
    expect(await readJsonBody(json('{"a":[1,"é"]}'))).toEqual({ a: [1, 'é'] });
    expect(
      await readJsonBody(
        json('{"op":"x"}', { 'content-type': 'application/merge-patch+json; charset=utf-8' }),
      ),
    ).toEqual({ op: 'x' });
  });

  it('answers 400 VALIDATION_FAILED for a wrong type, no type, empty, bad UTF-8 and bad JSON', async () => {
    const cases: Array<[Request, RegExp]> = [
      [
        json('{}', { 'content-type': 'text/plain' }),
        /must be JSON: send it with Content-Type: application\/json \(got "text\/plain"\)/,
      ],
      [json('{}', {}), /must be JSON/],
      [json(''), /body is empty/],
      [json(new Uint8Array([0x7b, 0xff, 0x7d])), /not valid UTF-8/],
      [json('{"a":'), /not valid JSON/],
    ];
    for (const [request, message] of cases) {
      const error = await rejection(readJsonBody(request));
      expect(error).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
      expect(error.message).toMatch(message);
      expect(error.message).toMatch(/^\[@fairmind\/edge\] /);
    }
  });

  it('refuses a declared length over the limit before reading a byte', async () => {
    const { stream, stats } = counting(100, 100);
    const request = json(stream, { 'content-type': 'application/json', 'content-length': '10000' });
    const error = await rejection(readJsonBody(request, { limit: 1_000 }));
    expect(error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status: 413 });
    expect(error.headers).toEqual({ connection: 'close' });
    expect(stats.pulled).toBeLessThanOrEqual(1);
  });

  it('stops reading a chunked body as soon as it passes the limit', async () => {
    const { stream, stats } = counting(10_000, 100);
    const error = await rejection(readJsonBody(json(stream), { limit: 1_000 }));
    expect(error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status: 413 });
    // 11 chunks pass the limit; the stream may have pulled a couple ahead, never the 10,000.
    expect(stats.pulled).toBeLessThan(20);
  });

  it('accepts a body of exactly the limit, and defaults to 1 MiB', async () => {
    const body = `"${'x'.repeat(998)}"`;
    expect(await readJsonBody(json(body), { limit: 1_000 })).toHaveLength(998);
    expect(DEFAULT_BODY_LIMIT).toBe(1_048_576);
    const big = `"${'x'.repeat(DEFAULT_BODY_LIMIT)}"`;
    expect(await rejection(readJsonBody(json(big)))).toMatchObject({ status: 413 });
  });

  it('reads bare streams with the type and length given as options', async () => {
    let yielded = 0;
    async function* chunks() {
      for (let index = 0; index < 1_000; index++) {
        yielded++;
        yield index === 0 ? '[' : '0,';
      }
    }
    const error = await rejection(
      readJsonBody(chunks(), { limit: 50, contentType: 'application/json' }),
    );
    expect(error).toMatchObject({ status: 413 });
    expect(yielded).toBeLessThan(30);
    async function* small() {
      yield new TextEncoder().encode('{"ok":');
      yield 'true}';
    }
    expect(await readJsonBody(small(), { contentType: 'application/json' })).toEqual({ ok: true });
    expect(await readBody(small(), { contentLength: 11 })).toHaveLength(11);
    expect(await rejection(readBody(small(), { contentLength: 5_000, limit: 100 }))).toMatchObject({
      status: 413,
    });
  });

  it('refuses a Node stream that was already read instead of waiting for it forever', async () => {
    const stream = Readable.from([Buffer.from('{"a":1}')]);
    Object.assign(stream, { headers: { 'content-type': 'application/json' } });
    expect(await readJsonBody(stream)).toEqual({ a: 1 });
    const again = await rejection(readJsonBody(stream));
    expect(again).toMatchObject({ code: 'BODY_ALREADY_READ', status: 500, expose: false });
    expect(again.message).toMatch(/already read.*body parser/);
  });
});

describe('on a node:http server', () => {
  it('turns bad bodies into problems before the handler logic runs', async () => {
    const seen: unknown[] = [];
    server = await serveNode([], async (req, res) => {
      const input = await readJsonBody<{ name: string }>(req, { limit: 1_024 });
      seen.push(input);
      res.statusCode = 201;
      res.end();
    });
    const post = (body: string, type = 'application/json') =>
      rawRequest(server?.url as string, {
        method: 'POST',
        headers: { 'content-type': type },
        body,
      });

    expect((await post('{"name":"m1"}')).status).toBe(201);
    const bad = await post('{"name":');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body.toString())).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await post('name=m1', 'application/x-www-form-urlencoded')).status).toBe(400);
    const large = await post(JSON.stringify({ name: 'x'.repeat(2_000) }));
    expect(large.status).toBe(413);
    expect(large.headers.connection).toBe('close');
    expect(JSON.parse(large.body.toString())).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      status: 413,
    });
    expect(seen).toEqual([{ name: 'm1' }]);
  });

  it('answers 413 to a chunked upload without waiting for the rest of it', async () => {
    server = await serveNode([], async (req, res) => {
      await readJsonBody(req, { limit: 64 * 1024 });
      res.end();
    });
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        server?.url as string,
        { method: 'POST', headers: { 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          req.destroy();
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
      });
      // Far more than the limit, written only as fast as the server reads: if the server
      // read it all before answering, the promise would wait on all 64 MiB.
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent < 1_024) {
          sent++;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    expect(status).toBe(413);
  });
});

describe('bodyLimit', () => {
  it('refuses an oversized Content-Length with 413 before any handler runs', async () => {
    let handled = 0;
    server = await serveNode([bodyLimit({ limit: 100 })], (_req, res) => {
      handled++;
      res.end();
    });
    const url = server.url;
    const big = await rawRequest(url, { method: 'POST', body: 'x'.repeat(101) });
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body.toString())).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(handled).toBe(0);
    expect((await rawRequest(url, { method: 'POST', body: 'x'.repeat(100) })).status).toBe(200);
    expect((await rawRequest(url, { method: 'GET' })).status).toBe(200);
    expect(handled).toBe(2);
  });

  it('refuses bad options by name', async () => {
    expect(() => bodyLimit({ limit: -1 })).toThrow(/limit must be a whole number/);
    expect(() => bodyLimit({ methods: [] })).toThrow(/methods must name at least one method/);
    await expect(readJsonBody(json('{}'), { limit: 1.5 })).rejects.toThrow(/limit/);
  });
});
