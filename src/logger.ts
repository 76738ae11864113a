import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { type DestinationStream, type Logger } from 'pino';
import { pinoHttp } from 'pino-http';

export type { Logger };

/** JSON lines on stdout. Authorization headers are redacted should a request object ever be logged. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'entra-graphql-api' },
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'token'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

// A caller's request id is kept only when it cannot forge log content.
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * One line per request with its id (the caller's `x-request-id` when sane, else a new one, returned in the
 * response header), client address, status and duration. Only method and path are logged, never headers.
 */
export function requestLogger(logger: Logger) {
  return pinoHttp({
    logger,
    genReqId(req: IncomingMessage, res: ServerResponse) {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
      res.setHeader('x-request-id', id);
      return id;
    },
    customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? 'error' : 'info'),
    customSuccessMessage: () => 'request completed',
    customErrorMessage: () => 'request failed',
    customAttributeKeys: { responseTime: 'durationMs' },
    serializers: {
      req: (req: { id: string; method: string; url: string; raw: { ip?: string } }) => ({
        id: req.id,
        method: req.method,
        path: req.url.split('?')[0],
        clientAddress: req.raw.ip,
      }),
      res: (res: { statusCode: number }) => ({ status: res.statusCode }),
    },
  });
}
