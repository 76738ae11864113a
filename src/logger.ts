import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines on stdout, written asynchronously (lines of one event-loop turn go out in one write; call
 * `logger.flush()` before exiting). Authorization headers are redacted should a request object ever be logged.
 */
export function createLogger(
  level: string,
  destination: DestinationStream = pino.destination({ dest: 1, sync: false }),
): Logger {
  return pino(
    {
      level,
      base: { service: 'entra-graphql-api', pid: process.pid },
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'token'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
