import {
  type Decision,
  type Exchange,
  type FinishInfo,
  type Logger,
  type Middleware,
  runMiddleware,
} from '@fairmind/core';
import { failureReply, shortReply, toResponse, withHeaders } from '@fairmind/core/adapter';
import { lingerBeforeClose, observeFinish } from '@fairmind/core/node';
import type { ResponseCompression } from '../web/index.js';

/**
 * The contract around a fetch-style application (Hono, or any handler of Web `Request`s):
 * the chain, the application's `Response`, compression and the finish report, the same
 * whichever framework runs it. Nothing here imports Node: on a Node server that hands its
 * request and response over, it reaches them by their shape (core's `observeFinish` and
 * `lingerBeforeClose` import only types).
 */

/** Options of {@link createWebBridge}: what an adapter resolved from its own options, once. */
export interface WebBridgeOptions {
  /** The adapter's package name, for log lines. */
  readonly pkg: string;
  readonly chain: readonly Middleware[];
  readonly logger: Logger;
  /** The compression of the final response (`createResponseCompression`), or `undefined`. */
  readonly compress: ResponseCompression | undefined;
  /** Turns the framework's own client errors into `FairmindError`s (see `liftClientError`). */
  readonly lift: (error: unknown) => unknown;
}

/** One request as the framework hands it to a {@link WebBridge}. */
export interface WebPass {
  /** The exchange, made by the adapter (`webExchange`) before anything else. */
  readonly exchange: Exchange;
  /**
   * What the server hands over with the request; on @hono/node-server (`c.env`), the Node
   * request and response as `incoming` and `outgoing`.
   */
  readonly env: unknown;
  /** When the request began, from `performance.now()`. */
  readonly startedAt: number;
  /** Sees the chain's decision before anything else runs: where the adapter exposes state. */
  decided(decision: Decision): void;
  /** Runs the rest of the application when no middleware answered, for its response. */
  next(): Promise<Response>;
}

/** Answers one request: the chain, then the application, as one final `Response`. */
export type WebBridge = (pass: WebPass) => Promise<Response>;

interface NodePair {
  readonly incoming: Parameters<typeof lingerBeforeClose>[0];
  readonly outgoing: Parameters<typeof observeFinish>[0];
}

// The Node response behind a Web request (@hono/node-server's `c.env.outgoing`), found by its
// shape; the request beside it is taken as it is.
function nodePair(env: unknown): NodePair | undefined {
  const { incoming, outgoing } = (env ?? {}) as { incoming?: unknown; outgoing?: unknown };
  const response = outgoing as { once?: unknown; getHeader?: unknown } | undefined;
  return typeof response?.once === 'function' && typeof response.getHeader === 'function'
    ? ({ incoming, outgoing } as NodePair)
    : undefined;
}

/**
 * The bridge of a fetch-style adapter. The chain runs first: a middleware's reply is the
 * answer, otherwise `next()` runs the application and the chain's headers go on its response
 * (a header the application set itself wins, list headers combine); what the application
 * throws and the framework let through becomes a problem. Last, the response is compressed and
 * reported to the chain's `onFinish` callbacks once it has gone.
 *
 * @example
 * ```ts
 * const bridge = createWebBridge({ pkg, chain, logger, compress, lift: (error) => error });
 * export default {
 *   fetch: (request: Request) =>
 *     bridge({
 *       exchange: webExchange(request, ''),
 *       env: undefined,
 *       startedAt: performance.now(),
 *       decided: () => {},
 *       next: async () => app(request),
 *     }),
 * };
 * ```
 */
export function createWebBridge(options: WebBridgeOptions): WebBridge {
  const { pkg, chain, logger, compress } = options;

  const answer = async (pass: WebPass): Promise<Response> => {
    try {
      return await pass.next();
    } catch (error) {
      // A framework may let an error through (Hono does with what its notFound handler
      // throws, where mount() puts the application): it is answered here.
      return toResponse(failureReply(options, error, pass.exchange));
    }
  };

  return async function fairmindWebBridge(pass) {
    const { exchange, startedAt } = pass;
    const node = nodePair(pass.env);
    // On Node with a Node encoder, compression happens at the Node response (see
    // CompressionEncoder.nodeBackend), and the Web response is left for the server's fast path.
    const compressAtNode = compress?.node !== undefined && node !== undefined;
    if (compressAtNode) compress?.node?.(node.incoming, node.outgoing);
    const pending = runMiddleware(chain, exchange);
    const decision = pending instanceof Promise ? await pending : pending;
    pass.decided(decision);

    const short = shortReply(pkg, logger, decision, exchange);
    let response = short ? toResponse(short) : withHeaders(await answer(pass), decision.headers);
    if (compress && !compressAtNode) response = await compress(exchange.request, response);
    // On Node the server response says when the body has left, and how long it was: wrapping
    // the body in a counting stream instead would take @hono/node-server off its fast path
    // (it writes a string or buffer body straight to the socket) and cost more than the rest
    // of the request. Elsewhere the counting stream is the only portable way to know.
    if (node === undefined) {
      return observeResponse(response, exchange.request.method, decision.onFinish, startedAt);
    }
    // A client still sending a body this answer refuses must get to read it (a 413).
    if (response.headers.get('connection')?.toLowerCase() === 'close') {
      lingerBeforeClose(node.incoming);
    }
    observeFinish(node.outgoing, decision.onFinish, startedAt);
    return response;
  };
}

/**
 * Reports a response to `onFinish` callbacks once its body has been read to the end, or
 * cancelled (the client went away), counting its bytes on the way. That works on every
 * runtime, where a server's "finish" event exists only on Node. A HEAD response's body is
 * dropped by the server unread, so it is reported at once.
 *
 * @example
 * ```ts
 * return observeResponse(response, request.method, decision.onFinish, startedAt);
 * ```
 */
export function observeResponse(
  response: Response,
  method: string,
  callbacks: ReadonlyArray<(info: FinishInfo) => void>,
  startedAt: number,
): Response {
  if (callbacks.length === 0) return response;
  const report = (bytes: number, aborted: boolean) => {
    const info: FinishInfo = {
      status: response.status,
      bytes,
      durationMs: performance.now() - startedAt,
      aborted,
    };
    for (const callback of callbacks) callback(info);
  };
  const body = response.body;
  if (body === null || method === 'HEAD') {
    report(0, false);
    return response;
  }
  const reader = body.getReader();
  let bytes = 0;
  let reported = false;
  const once = (aborted: boolean) => {
    if (reported) return;
    reported = true;
    report(bytes, aborted);
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        once(true);
        controller.error(error);
        return;
      }
      if (chunk.done) {
        controller.close();
        once(false);
      } else {
        bytes += chunk.value.byteLength;
        controller.enqueue(chunk.value);
      }
    },
    cancel(reason) {
      once(true);
      return reader.cancel(reason);
    },
  });
  return new Response(stream, response);
}
