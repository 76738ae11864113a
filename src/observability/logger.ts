import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

// Lines are gathered into writes of at least 4 KB, about fifteen request lines, instead of one write (and one trip
// through libuv's thread pool) per event-loop turn; a timer flushes a quiet server's lines within a second.
const WRITE_BYTES = 4096;
const FLUSH_INTERVAL_MS = 1000;

/**
 * Asynchronous stdout; pino flushes it on exit, and `logger.flush()` does before an explicit `process.exit`.
 *
 * sonic-boom's text mode keeps pending lines in one string grown by concatenation and measures its byte length on
 * every write, so each line copies everything still pending (more under load, while a write is on the thread pool),
 * and encodes each batch twice. Its buffer mode keeps a list of the lines' bytes and joins them once per write: each
 * line is encoded once, here (bench/PROFILE.md).
 */
function bufferedStdout(): DestinationStream & { flush(callback?: (error?: Error) => void): void } {
  const stream = pino.destination({ dest: 1, sync: false, minLength: WRITE_BYTES, contentMode: 'buffer' });
  setInterval(() => stream.flush(), FLUSH_INTERVAL_MS).unref();
  // sonic-boom's typings describe only its text mode.
  const writeBytes = stream.write.bind(stream) as unknown as (bytes: Buffer) => boolean;
  return {
    write: (line: string) => writeBytes(Buffer.from(line)),
    flush: (callback) => stream.flush(callback),
  };
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
