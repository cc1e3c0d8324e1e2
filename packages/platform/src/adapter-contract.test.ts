import { once } from 'node:events';
import { type IncomingHttpHeaders, request } from 'node:http';
import { PassThrough, type Transform } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { brotliDecompressSync, createBrotliDecompress, createGunzip, gunzipSync } from 'node:zlib';
import {
  type Handler,
  jsonReply,
  type Middleware,
  requestPath,
  silentLogger,
} from '@fairmind/core';
import { type BodySource, readJsonBody, requestLog } from '@fairmind/edge';
import { recordingLogger } from '@fairmind/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterTargets, type StreamedBody, type TestApp } from './test-support/index.js';

/**
 * Wire behaviour every adapter must share beyond what the platform's script covers: streamed
 * bodies and compression, refused bodies, and what a failure leaves in the log. Each test runs against
 * node:http, Express, Fastify and Hono alike (test-support/index.ts).
 */

interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The bytes on the wire, still encoded. */
  readonly body: Buffer;
}

function rawGet(url: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

function decoder(encoding: string | undefined): Transform {
  if (encoding === 'br') return createBrotliDecompress();
  if (encoding === 'gzip') return createGunzip();
  return new PassThrough();
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

// Posts `bytes` of JSON `times` over, one after the other, from a worker thread, and counts
// what came back: "<status> <code>" or the error that ended the request.
const UPLOADER = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { url, bytes, times } = workerData;
  const body = JSON.stringify({ blob: 'x'.repeat(bytes) });
  const outcomes = {};
  for (let attempt = 0; attempt < times; attempt++) {
    let outcome;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      outcome = response.status + ' ' + (await response.json()).code;
    } catch (error) {
      outcome = String(error.cause?.code ?? error.cause ?? error);
    }
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  parentPort.postMessage(outcomes);
})();
`;

async function uploadFromAnotherThread(
  url: string,
  bytes: number,
  times: number,
): Promise<Record<string, number>> {
  const worker = new Worker(UPLOADER, { eval: true, workerData: { url, bytes, times } });
  try {
    const [outcomes] = (await once(worker, 'message')) as [Record<string, number>];
    return outcomes;
  } finally {
    await worker.terminate();
  }
}

/**
 * A gate the client opens once it has decoded the first event. The server waits on it before
 * it writes the second event, at most `fallbackMs` (so a server that holds the first event
 * back still ends, and the test fails instead of hanging); `wait` says which came first.
 */
function eventGate(fallbackMs: number) {
  let open: () => void = () => {};
  const opened = new Promise<'client'>((resolve) => {
    open = () => resolve('client');
  });
  let timer: NodeJS.Timeout | undefined;
  const wait = Promise.race([
    opened,
    new Promise<'fallback'>((resolve) => {
      timer = setTimeout(() => resolve('fallback'), fallbackMs);
    }),
  ]).finally(() => clearTimeout(timer));
  return { open, wait };
}

const SMALL_HALF = 'a'.repeat(512);

// Each piece after a turn of the event loop, so no framework sees the body whole.
function slowly(...pieces: string[]): StreamedBody {
  return {
    type: 'text/plain',
    async *pieces() {
      await tick();
      for (const piece of pieces) {
        yield piece;
        await tick();
      }
    },
  };
}

describe.each(adapterTargets)('$name', (target) => {
  let gate = eventGate(0);
  const streams: Record<string, StreamedBody> = {
    events: {
      type: 'text/event-stream',
      async *pieces() {
        yield 'data: one\n\n';
        yield `data: ${await gate.wait}\n\n`;
      },
    },
    'two-halves': slowly(SMALL_HALF, SMALL_HALF),
    'just-over': slowly(SMALL_HALF, `${SMALL_HALF}!`),
    empty: slowly(),
  };
  const handler: Handler<BodySource> = async (exchange, body) => {
    if (requestPath(exchange.request.url) === '/fail')
      throw new Error('the database driver said: boom');
    if (exchange.request.method === 'POST') await readJsonBody(body);
    return jsonReply(200, { ok: true });
  };
  const breaks: Middleware = (exchange) => {
    if (requestPath(exchange.request.url) === '/broken') throw new Error('a middleware bug');
    return undefined;
  };
  const logger = recordingLogger();
  const app: TestApp = {
    middleware: [requestLog({ logger: silentLogger }), breaks],
    handler,
    logger,
    stream: (name) => streams[name],
  };
  let server: { base: string; close(): Promise<void> };

  beforeAll(async () => {
    server = await target.start(app);
  });
  afterAll(() => server.close());

  it.each(['gzip', 'br'])(
    'sends each server-sent event as it is written, compressed with %s',
    async (coding) => {
      gate = eventGate(3000);
      const seen = await new Promise<{ encoding: unknown; text: string }>((resolve, reject) => {
        request(
          `${server.base}/stream/events`,
          { headers: { 'accept-encoding': coding } },
          (res) => {
            let text = '';
            const decoded = res.pipe(decoder(res.headers['content-encoding']));
            decoded.on('data', (chunk: Buffer) => {
              text += chunk.toString();
              if (text.includes('data: one\n\n')) gate.open();
            });
            decoded.on('end', () => resolve({ encoding: res.headers['content-encoding'], text }));
            decoded.on('error', reject);
          },
        )
          .on('error', reject)
          .end();
      });
      expect(seen.encoding).toBe(coding);
      // "client": the first event was decoded while the server still waited to write the next.
      expect(seen.text).toBe('data: one\n\ndata: client\n\n');
    },
  );

  it('applies the 1024-byte threshold to the whole of a body written in pieces', async () => {
    const headers = { 'accept-encoding': 'br, gzip' };
    const halves = await rawGet(`${server.base}/stream/two-halves`, headers);
    expect(halves.headers['content-encoding']).toBeUndefined();
    expect(halves.headers['vary']).toMatch(/accept-encoding/i);
    expect(halves.body.toString()).toBe(SMALL_HALF + SMALL_HALF);

    const empty = await rawGet(`${server.base}/stream/empty`, headers);
    expect(empty.headers['content-encoding']).toBeUndefined();
    expect(empty.body.length).toBe(0);

    const over = await rawGet(`${server.base}/stream/just-over`, headers);
    expect(over.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(over.body).toString()).toBe(`${SMALL_HALF}${SMALL_HALF}!`);
    const gzip = await rawGet(`${server.base}/stream/just-over`, { 'accept-encoding': 'gzip' });
    expect(gunzipSync(gzip.body).toString()).toBe(`${SMALL_HALF}${SMALL_HALF}!`);
  });

  it('logs a 500 with the request id the client was told to report, its method and path', async () => {
    for (const path of ['/fail', '/broken']) {
      logger.errors.length = 0;
      const response = await fetch(`${server.base}${path}?token=secret`, { method: 'DELETE' });
      expect(response.status).toBe(500);
      const problem = (await response.json()) as { detail: string };
      expect(problem.detail).toMatch(/report the request id/);
      expect(logger.errors, path).toEqual([
        expect.objectContaining({
          requestId: response.headers.get('x-request-id'),
          method: 'DELETE',
          path,
          err: expect.any(Error),
        }),
      ]);
    }
  });

  // The body limit is 1 MiB, so the 413 comes while the client is still writing. The client
  // runs in a thread of its own: sharing the server's event loop, it would never be writing
  // at the moment the server closes.
  it('delivers the 413 to a client that is still sending its body, every time', async () => {
    const outcomes = await uploadFromAnotherThread(`${server.base}/upload`, 4 * 1024 * 1024, 30);
    expect(outcomes).toEqual({ '413 PAYLOAD_TOO_LARGE': 30 });
  });
});
