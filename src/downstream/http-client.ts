import { createSecureContext, rootCertificates } from 'node:tls';
import { Agent, fetch as undiciFetch, request, type Dispatcher } from 'undici';
import { tracingEnabled, withTraceContext } from '../observability/tracing';

/** Why a call to another service got no answer: it took longer than allowed, or no connection could be made. */
export class UnreachableError extends Error {
  override readonly name = 'UnreachableError';
  constructor(
    readonly url: string,
    readonly timedOut: boolean,
    cause: unknown,
  ) {
    super(`${timedOut ? 'No answer in time from' : 'Could not reach'} ${new URL(url).origin}`, { cause });
  }
}

/** Retry-After as seconds (RFC 9110: delay-seconds or an HTTP-date); undefined when absent or unreadable. */
export function retryAfterSeconds(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

export interface OutboundResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface OutboundHttp {
  /** One request with its own time limit (connect, headers and body together); throws UnreachableError. */
  send(
    url: string,
    init: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string; timeoutMs: number },
  ): Promise<OutboundResponse>;
  /** A `fetch` on the same connections and trust (for jose's key fetches). */
  readonly fetch: typeof fetch;
  close(): Promise<void>;
}

/** Largest answer read from Entra ID or Graph; a larger one is a fault of the other side, not a reason to buffer. */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * HTTP to Entra ID and Microsoft Graph: kept-alive connections, bounded time per request, and TLS that trusts
 * Node's certificate authorities plus, when given, extra ones (OUTBOUND_CA_FILE). The extra trust belongs to
 * these connections only: nothing else in the process, and no other process, trusts it.
 */
export function createOutboundHttp(extraCaPem?: string): OutboundHttp {
  const dispatcher: Dispatcher = new Agent({
    // One secure context for every connection: building one from Node's ~140 roots plus the extra ones costs about
    // 20 ms of CPU, which `ca` alone would spend again on each new connection.
    connect: extraCaPem ? { secureContext: createSecureContext({ ca: [...rootCertificates, extraCaPem] }) } : {},
    keepAliveTimeout: 30_000,
    connections: 64,
  });

  async function send(
    url: string,
    init: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string; timeoutMs: number },
  ): Promise<OutboundResponse> {
    const signal = AbortSignal.timeout(init.timeoutMs);
    try {
      const response = await request(url, {
        dispatcher,
        method: init.method,
        // The active span (an on-behalf-of exchange, a Graph call) continues in the other service's trace.
        headers: tracingEnabled() ? withTraceContext(init.headers) : init.headers,
        body: init.body,
        signal,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          response.body.destroy();
          throw new Error('answer larger than 1 MB');
        }
        chunks.push(chunk);
      }
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      }
      return { status: response.statusCode, headers, body: Buffer.concat(chunks).toString('utf8') };
    } catch (error) {
      throw new UnreachableError(url, signal.aborted, error);
    }
  }

  const boundFetch = ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) =>
    undiciFetch(input as string, { ...(init as object), dispatcher })) as unknown as typeof fetch;

  return { send, fetch: boundFetch, close: () => dispatcher.close() };
}
