import { randomUUID } from 'node:crypto';
import type { Histogram } from 'prom-client';
import type { Logger } from './logger';

/** What the access log says about one response: method and path only, never headers or the query string. */
export interface AccessRecord {
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly clientAddress: string;
  readonly status: number;
  readonly durationMs: number;
}

export interface AccessLog {
  /** Queues one response's line and histogram sample; both are written before the event loop waits again. */
  record(entry: AccessRecord): void;
  /** Writes what is queued now. */
  flush(): void;
}

/**
 * One `request completed` line and one duration sample per response, written together for all the responses of an
 * event-loop turn (a `setImmediate`) rather than one by one between requests. Serialising a line among other lines
 * finds pino's code and data warm; between two requests they are cold, and in the server that made the line cost
 * several times what it costs in a loop. Batched, the event loop spends about 7 µs less per request
 * (bench/PROFILE.md, fifth pass). A line's `time` is when it is written, within the same turn; `durationMs` is
 * measured at the response.
 */
export function createAccessLog(logger: Logger, requestDuration: Histogram<'status'>): AccessLog {
  let queued: AccessRecord[] = [];
  // One bound child per status code (a handful): prom-client otherwise hashes the label object per sample.
  const byStatus = new Map<number, { observe(seconds: number): void }>();
  const samplesOf = (status: number) => {
    let child = byStatus.get(status);
    if (child === undefined) byStatus.set(status, (child = requestDuration.labels({ status })));
    return child;
  };

  function flush(): void {
    const entries = queued;
    queued = [];
    for (const entry of entries) samplesOf(entry.status).observe(entry.durationMs / 1000);
    for (const entry of entries) logger.info(entry, 'request completed');
  }

  return {
    record(entry) {
      if (queued.push(entry) === 1) setImmediate(flush);
    },
    flush,
  };
}

/** The path without the query string, which may hold GraphQL variables (and so tokens or personal data). */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

// A caller's request id is kept only when it cannot forge log content.
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** The request id of a request or a socket: the caller's `x-request-id` when it is a plain id, else a new UUID. */
export function requestIdOf(given: string | string[] | undefined): string {
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}
