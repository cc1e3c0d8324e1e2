import {
  type Exchange,
  FairmindError,
  type Logger,
  type Middleware,
  problemReply,
  runMiddleware,
} from '@fairmind/core';
import { applyHeaders, nodeExchange, observeFinish, writeReply } from '@fairmind/core/node';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';

export interface AppOptions {
  logger: Logger;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

// X-Request-Id as the HTTP contract defines it. It moves into @fairmind/edge's request
// logger; here it shows a middleware written once on the core contract.
const requestId: Middleware = function requestIdMiddleware(exchange: Exchange) {
  const given = exchange.request.headers.get('x-request-id');
  const id = given !== null && REQUEST_ID.test(given) ? given : crypto.randomUUID();
  return { headers: { 'x-request-id': id } };
};

// The bridge from Express to the contract; @fairmind/express replaces it.
function contract(chain: readonly Middleware[], logger: Logger) {
  return async function fairmindContract(req: Request, res: Response, next: NextFunction) {
    const decision = await runMiddleware(chain, nodeExchange(req));
    observeFinish(res, decision.onFinish);
    if (decision.error !== undefined && (decision.reply?.status ?? 500) >= 500) {
      logger.error({ err: decision.error }, '[example-express] middleware failed');
    }
    if (decision.reply) return writeReply(res, decision.reply);
    applyHeaders(res, decision.headers);
    next();
  };
}

/** The example application: liveness on the core contract, problems for everything else. */
export function createApp(options: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(contract([requestId], options.logger));

  app.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.use((req, res) => {
    writeReply(
      res,
      problemReply(
        new FairmindError(
          'NOT_FOUND',
          404,
          `No route for ${req.method} ${req.path}: check the method and the path.`,
        ),
      ),
    );
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    options.logger.error({ err: error }, '[example-express] request failed');
    writeReply(res, problemReply(error));
  });

  return app;
}
