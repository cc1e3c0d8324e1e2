/**
 * The peer stacks' logging, configured once for every benchmark that stitches them: one line
 * per request with the fields requestLog() writes (not pino-http's whole header dump), and a
 * request id kept from the client or made, and echoed.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import { rateLimit as expressRateLimit, type Store } from 'express-rate-limit';
import type { FastifyInstance } from 'fastify';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { type HttpLogger, type Options, pinoHttp } from 'pino-http';

/** pino-http writing the fields requestLog() writes. */
export function peerPinoHttp(logger: Logger): HttpLogger {
  const options: Options = {
    logger,
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && given.length <= 128 ? given : randomUUID();
      res.setHeader('x-request-id', id);
      return id;
    },
    serializers: {
      req: (req: { id: unknown; method: string; url: string; remoteAddress: string }) => ({
        id: req.id,
        method: req.method,
        path: req.url,
        ip: req.remoteAddress,
      }),
      res: (res: { statusCode: number }) => ({ status: res.statusCode }),
    },
  };
  return pinoHttp(options);
}

/** Fastify's genReqId for the same request id rule. */
export function peerRequestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && given.length <= 128 ? given : randomUUID();
}

/**
 * Fastify's own request logging writes two lines per request; the one line requestLog()
 * writes comes from hooks instead, as a Fastify user would stitch them.
 */
export function peerFastifyLog(app: FastifyInstance, logger: Logger): void {
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    logger.info(
      {
        requestId: request.id,
        method: request.method,
        path: request.url,
        status: reply.statusCode,
        responseTimeMs: reply.elapsedTime,
        ip: request.ip,
      },
      `${request.method} ${request.url} ${reply.statusCode}`,
    );
    done();
  });
}

/**
 * The head of the Express stack a user stitches: pino-http with that log line, helmet's
 * defaults, and express-rate-limit with draft IETF headers, on `store` (its memory store when
 * none is given) and with a limit no request reaches.
 */
export function peerExpressApp(
  logger: Logger,
  limit: { limit: number; windowSeconds: number; store?: Store | undefined },
): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(peerPinoHttp(logger));
  app.use(helmet());
  app.use(
    expressRateLimit({
      windowMs: limit.windowSeconds * 1000,
      limit: limit.limit,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      ...(limit.store === undefined ? {} : { store: limit.store }),
    }),
  );
  return app;
}
