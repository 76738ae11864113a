import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../observability/logger';
import { DownstreamError } from './errors';
import { inSpan, setActiveSpanAttribute, SpanKind, tracingEnabled } from '../observability/tracing';
import { retryAfterSeconds, UnreachableError, type OutboundHttp } from './http-client';

export interface GraphClient {
  /** The delegated permission the client asks for, e.g. `https://graph.microsoft.com/User.Read`. */
  readonly scopes: readonly string[];
  /** `GET /v1.0/me?$select=...` with the caller's Graph token, logging in `log`. Throws DownstreamError. */
  me(accessToken: string, select: readonly string[], log: Logger): Promise<Record<string, unknown>>;
}

/** Shortest wait before a retry, whatever Retry-After says: `0` or a date in the past must not make a busy loop. */
export const MIN_RETRY_SECONDS = 1;
/** Retries of one request at most, however short the waits. */
export const MAX_RETRIES = 3;

/**
 * Microsoft Graph, as much of it as the API uses. A 429 or 503 is retried after its Retry-After (1 s, then 2 s ...
 * without one; never sooner than MIN_RETRY_SECONDS), at most MAX_RETRIES times and while the wait fits in the
 * request's retry budget; past either, the failure says when to retry.
 */
export function createGraphClient(options: {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly retryBudgetSeconds: number;
  readonly http: OutboundHttp;
  readonly onResponse: (status: string) => void;
}): GraphClient {
  const { baseUrl, timeoutMs, http, onResponse } = options;
  const spanAttributes = {
    'http.request.method': 'GET',
    'server.address': new URL(baseUrl).hostname,
    'url.path': '/v1.0/me',
  };
  return {
    scopes: [`${baseUrl}/User.Read`],
    me(accessToken, select, logger) {
      if (!tracingEnabled()) return me(accessToken, select, logger);
      return inSpan('GET /v1.0/me', SpanKind.CLIENT, spanAttributes, () => me(accessToken, select, logger));
    },
  };

  async function me(accessToken: string, select: readonly string[], logger: Logger): Promise<Record<string, unknown>> {
    const url = `${baseUrl}/v1.0/me?$select=${select.join(',')}`;
    const deadline = Date.now() + options.retryBudgetSeconds * 1000;
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await http.send(url, {
          method: 'GET',
          headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
          timeoutMs,
        });
      } catch (error) {
        if (!(error instanceof UnreachableError)) throw error;
        onResponse(error.timedOut ? 'timeout' : 'unreachable');
        logger.warn({ event: 'graph_unreachable', timedOut: error.timedOut }, error.message);
        throw new DownstreamError('unavailable', 'graph');
      }
      onResponse(String(response.status));
      if (tracingEnabled()) setActiveSpanAttribute('http.response.status_code', response.status);
      if (response.status === 200) {
        try {
          return JSON.parse(response.body) as Record<string, unknown>;
        } catch {
          throw new DownstreamError('unavailable', 'graph');
        }
      }
      if (response.status === 429 || response.status === 503) {
        const told = retryAfterSeconds(response.headers['retry-after']);
        const wait = Math.max(MIN_RETRY_SECONDS, told ?? 2 ** attempt);
        if (attempt < MAX_RETRIES && Date.now() + wait * 1000 <= deadline) {
          await sleep(wait * 1000);
          continue;
        }
        // A 503 without Retry-After is an outage, not throttling.
        if (response.status === 503 && told === undefined) throw new DownstreamError('unavailable', 'graph');
        throw new DownstreamError('throttled', 'graph', { retryAfterSeconds: wait });
      }
      if (response.status >= 500) throw new DownstreamError('unavailable', 'graph');
      const challenge = response.status === 401 ? claimsChallengeOf(response.headers['www-authenticate']) : undefined;
      if (challenge) {
        logger.info({ event: 'graph_claims_challenge' }, 'Microsoft Graph answered a claims challenge');
        throw new DownstreamError('insufficient_claims', 'graph', challenge);
      }
      logger.error(
        { event: 'graph_refused', status: response.status, graphError: graphErrorCode(response.body) },
        'Microsoft Graph refused the request',
      );
      throw new DownstreamError('refused', 'graph');
    }
  }
}

function graphErrorCode(body: string): string | undefined {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code.slice(0, 100) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A claims challenge of Graph's (Continuous Access Evaluation: a revoked session, a changed location), as it sends it
 * only to tokens of clients that declared cp1: `Bearer …, error="insufficient_claims", claims="<base64 JSON>"`.
 * Returns the claims as JSON and Graph's authorization_uri, to hand to the caller unchanged; undefined for any other
 * challenge, or claims that are not base64 of a JSON object.
 */
export function claimsChallengeOf(
  header: string | string[] | undefined,
): { claims: string; authorizationUri?: string } | undefined {
  const value = Array.isArray(header) ? header.join(', ') : header;
  if (value === undefined || value.length > 8192) return undefined;
  const params = new Map<string, string>();
  for (const match of value.matchAll(/([A-Za-z_]+)="([^"]*)"/g))
    params.set((match[1] as string).toLowerCase(), match[2] as string);
  const encoded = params.get('claims');
  if (params.get('error') !== 'insufficient_claims' || encoded === undefined) return undefined;
  const claims = Buffer.from(encoded, 'base64').toString('utf8');
  try {
    const parsed: unknown = JSON.parse(claims);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  } catch {
    return undefined;
  }
  const uri = params.get('authorization_uri');
  return { claims, ...(uri !== undefined && /^https:\/\/[^\s"]+$/.test(uri) && { authorizationUri: uri }) };
}
