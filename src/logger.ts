import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

// Lines are gathered into writes of at least 4 KB, about fifteen request lines, instead of one write (and one trip
// through libuv's thread pool) per event-loop turn; a timer flushes a quiet server's lines within a second.
const WRITE_BYTES = 4096;
const FLUSH_INTERVAL_MS = 1000;

/** Asynchronous stdout; pino flushes it on exit, and `logger.flush()` does before an explicit `process.exit`. */
function bufferedStdout(): DestinationStream {
  const stream = pino.destination({ dest: 1, sync: false, minLength: WRITE_BYTES });
  setInterval(() => stream.flush(), FLUSH_INTERVAL_MS).unref();
  return stream;
}

/**
 * JSON lines on stdout, written asynchronously in batches. Authorization headers are redacted should a request
 * object ever be logged.
 */
export function createLogger(level: string, destination: DestinationStream = bufferedStdout()): Logger {
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
