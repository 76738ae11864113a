import { createHash } from 'node:crypto';
import {
  ConfidentialClientApplication,
  DistributedCachePlugin,
  InteractionRequiredAuthError,
  LogLevel,
  ServerError,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
  type NodeAuthOptions,
} from '@azure/msal-node';
import { LRUCache } from 'lru-cache';
import { describeFailure } from '../auth/signing-keys';
import type { Logger } from '../observability/logger';
import { DownstreamError } from './errors';
import { retryAfterSeconds, UnreachableError, type OutboundHttp } from './http-client';
import type { OboCacheStore } from './token-cache';

export interface OnBehalfOf {
  /**
   * An access token for `scopes` on behalf of the user whose (already verified) token is `assertion`, from the cache
   * when it holds one. `cae` asks for a Continuous Access Evaluation token (client capability cp1): only when the
   * incoming token says its client takes claims challenges, since the caller is the one who must answer them.
   * Throws DownstreamError.
   */
  acquire(
    assertion: string,
    tenantId: string,
    scopes: readonly string[],
    log: Logger,
    cae?: boolean,
  ): Promise<{ token: string; fromCache: boolean }>;
}

export interface OnBehalfOfOptions {
  readonly clientId: string;
  readonly authorityHost: string;
  readonly credential: Pick<NodeAuthOptions, 'clientSecret' | 'clientCertificate' | 'clientAssertion'>;
  readonly http: OutboundHttp;
  readonly timeoutMs: number;
  readonly store: OboCacheStore;
}

/** What one exchange saw of the token endpoint's answer: msal-node keeps neither the headers nor the cause. */
interface Observed {
  status?: number;
  retryAfter?: string;
  unreachable?: UnreachableError;
}

/**
 * The on-behalf-of flow with msal-node. Each exchange gets its own ConfidentialClientApplication whose cache holds
 * only its caller's partition (the hash of the incoming token), loaded from the store before msal-node looks and
 * written back by msal-node's DistributedCachePlugin after a new token: so the in-memory cache never grows with the
 * number of users, never mixes users, and concurrent requests do not share mutable cache state. The tenant's OpenID
 * metadata is fetched once per tenant and handed to each application, so that msal-node makes no discovery call.
 *
 * Two things keep the common case cheap: a token the store's memory holds for these scopes is answered without
 * building an application (what msal-node would answer from that cache, read once when it was stored), and
 * concurrent requests with one incoming token share one exchange instead of each calling the token endpoint.
 */
export function createOnBehalfOf(options: OnBehalfOfOptions): OnBehalfOf {
  const { clientId, authorityHost, http, timeoutMs, store } = options;
  const host = new URL(authorityHost).host;
  const metadata = new LRUCache<string, Promise<string>>({ max: 1000, ttl: 24 * 3600 * 1000 });

  function authorityMetadata(tenantId: string): Promise<string> {
    let known = metadata.get(tenantId);
    if (known === undefined) {
      known = http
        .send(`${authorityHost}/${tenantId}/v2.0/.well-known/openid-configuration`, { method: 'GET', timeoutMs })
        .then((response) => {
          if (response.status !== 200) throw new Error(`OpenID metadata answered ${response.status}`);
          return response.body;
        });
      known.catch(() => metadata.delete(tenantId));
      metadata.set(tenantId, known);
    }
    return known;
  }

  /** Exchanges under way, by partition and scopes: concurrent requests with one token share one. */
  const inFlight = new Map<
    string,
    { readonly exchange: Promise<{ token: string; fromCache: boolean }>; readonly requestId: unknown }
  >();

  return {
    acquire(assertion, tenantId, scopes, log, cae = false) {
      const partition = createHash('sha256').update(assertion).digest('base64url');
      const cached = store.accessToken(partition, scopes);
      if (cached !== undefined) return Promise.resolve({ token: cached, fromCache: true });
      const key = `${partition} ${scopes.join(' ')}`;
      const running = inFlight.get(key);
      // Those who wait for another request's exchange cause no token-endpoint call of their own; when it fails,
      // each says so under its own request id, pointing to the request whose lines tell why.
      if (running) {
        return running.exchange.then(
          ({ token }) => ({ token, fromCache: true }),
          (error: unknown) => {
            log.info(
              { event: 'obo_shared_exchange_failed', exchangeRequestId: running.requestId },
              'On-behalf-of token request failed: see the request that made it',
            );
            throw error;
          },
        );
      }
      const exchange = exchangeOnce(assertion, partition, tenantId, scopes, log, cae).finally(() =>
        inFlight.delete(key),
      );
      inFlight.set(key, { exchange, requestId: requestIdOf(log) });
      return exchange;
    },
  };

  async function exchangeOnce(
    assertion: string,
    partition: string,
    tenantId: string,
    scopes: readonly string[],
    log: Logger,
    cae: boolean,
  ): Promise<{ token: string; fromCache: boolean }> {
    let authorityMetadataJson: string;
    try {
      authorityMetadataJson = await authorityMetadata(tenantId);
    } catch (error) {
      log.warn(
        { event: 'obo_metadata_unavailable', tenantId, error: describeFailure(error) },
        'Tenant metadata unavailable',
      );
      throw new DownstreamError('unavailable', 'token_endpoint');
    }
    const observed: Observed = {};
    const application = new ConfidentialClientApplication({
      auth: {
        clientId,
        authority: `${authorityHost}/${tenantId}`,
        knownAuthorities: [host],
        authorityMetadata: authorityMetadataJson,
        // msal-node sends it as the claims request {"access_token":{"xms_cc":{"values":["cp1"]}}}.
        ...(cae && { clientCapabilities: ['cp1'] }),
        ...options.credential,
      },
      cache: {
        cachePlugin: new DistributedCachePlugin(store, {
          getKey: async () => partition,
          extractKey: async () => partition,
        }),
      },
      system: { networkClient: msalNetwork(http, timeoutMs, observed), loggerOptions: msalLoggerOptions(log) },
    });
    // msal-node consults the cache plugin when it writes a new token, not before its on-behalf-of lookup.
    const cached = await store.get(partition);
    if (cached) application.getTokenCache().deserialize(cached);
    try {
      const result = await application.acquireTokenOnBehalfOf({ oboAssertion: assertion, scopes: [...scopes] });
      if (!result?.accessToken) throw new Error('no access token in the answer');
      return { token: result.accessToken, fromCache: result.fromCache };
    } catch (error) {
      throw classify(error, observed, scopes, `${authorityHost}/${tenantId}/oauth2/v2.0/authorize`, log);
    }
  }
}

/** msal-node's own warnings and errors, in the log of the request that caused them; never personal data. */
export function msalLoggerOptions(log: Logger) {
  const msalLogger = log.child({ library: 'msal-node' });
  return {
    piiLoggingEnabled: false,
    logLevel: LogLevel.Warning,
    loggerCallback: (level: LogLevel, message: string) =>
      level === LogLevel.Error ? msalLogger.error(message) : msalLogger.warn(message),
  };
}

/** The request id a request's child logger carries (for the requests that share its exchange). */
function requestIdOf(log: Logger): unknown {
  return log.bindings()['requestId'];
}

/**
 * msal-node's network module on the shared outbound connections, with a time limit, noting what it saw (for the
 * token endpoint's answers; the managed identity's calls need no record).
 */
export function msalNetwork(http: OutboundHttp, timeoutMs: number, observed: Observed = {}): INetworkModule {
  async function send<T>(
    method: 'GET' | 'POST',
    url: string,
    options?: NetworkRequestOptions,
  ): Promise<NetworkResponse<T>> {
    try {
      const response = await http.send(url, {
        method,
        headers: options?.headers ?? {},
        ...(options?.body !== undefined && { body: options.body }),
        timeoutMs,
      });
      observed.status = response.status;
      observed.retryAfter = response.headers['retry-after'];
      let body: T;
      try {
        body = JSON.parse(response.body) as T;
      } catch {
        throw new UnreachableError(url, false, new Error(`answer ${response.status} is not JSON`));
      }
      return { status: response.status, headers: response.headers as Record<string, string>, body };
    } catch (error) {
      if (error instanceof UnreachableError) observed.unreachable = error;
      throw error;
    }
  }
  return {
    sendGetRequestAsync: (url, options) => send('GET', url, options),
    sendPostRequestAsync: (url, options) => send('POST', url, options),
  };
}

/** Longest part of the token endpoint's error_description that is logged. */
const MAX_DESCRIPTION = 300;

/**
 * The token endpoint's error_description as it may be logged: on one line, at most MAX_DESCRIPTION characters, with
 * every run of 40 or more token characters replaced (an endpoint that echoed the assertion, a secret or a key would
 * otherwise put it in the log). Entra ID's own descriptions keep their AADSTS code, words and GUIDs.
 */
export function sanitizedDescription(description: string | undefined, max = MAX_DESCRIPTION): string | undefined {
  if (description === undefined) return undefined;
  const text = String(description)
    .replace(/[\p{Cc}\p{Cf}\s]+/gu, ' ')
    .replace(/[A-Za-z0-9\-_.~+/=]{40,}/g, '[redacted]')
    .trim();
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The AADSTS number of a server error, from msal-node's parsed `error_codes` or the description. */
function aadsts(error: { errorNo?: string | number; errorMessage?: string }): number | undefined {
  if (error.errorNo !== undefined && error.errorNo !== '') return Number(error.errorNo);
  const match = /AADSTS(\d+)/.exec(error.errorMessage ?? '');
  return match ? Number(match[1]) : undefined;
}

function classify(
  error: unknown,
  observed: Observed,
  scopes: readonly string[],
  authorizationUri: string,
  logger: Logger,
): DownstreamError {
  if (observed.unreachable) {
    logger.warn(
      {
        event: 'obo_unreachable',
        timedOut: observed.unreachable.timedOut,
        error: describeFailure(observed.unreachable),
      },
      'The token endpoint did not answer',
    );
    return new DownstreamError('unavailable', 'token_endpoint');
  }
  const status = observed.status ?? 0;
  if (status === 429 || ((status === 503 || status === 504) && observed.retryAfter !== undefined)) {
    return new DownstreamError('throttled', 'token_endpoint', {
      retryAfterSeconds: Math.max(1, retryAfterSeconds(observed.retryAfter) ?? 1),
    });
  }
  if (status >= 500) return new DownstreamError('unavailable', 'token_endpoint');
  if (error instanceof InteractionRequiredAuthError || error instanceof ServerError) {
    const number = aadsts(error);
    const summary = {
      event: 'obo_refused',
      error: sanitizedDescription(error.errorCode, 100),
      subError: sanitizedDescription(error.subError, 100),
      aadsts: number,
    };
    if (number === 65001 || error.subError === 'consent_required' || error.errorCode === 'consent_required') {
      logger.info(summary, 'On-behalf-of token refused: consent missing');
      return new DownstreamError('consent_required', 'token_endpoint', { scope: scopes.join(' ') });
    }
    if (number === 500133) {
      logger.info(summary, 'On-behalf-of token refused: the incoming token expired for Entra ID');
      return new DownstreamError('assertion_expired', 'token_endpoint');
    }
    if (error instanceof InteractionRequiredAuthError) {
      logger.info(summary, 'On-behalf-of token refused: the user must interact');
      return error.claims
        ? new DownstreamError('insufficient_claims', 'token_endpoint', { claims: error.claims, authorizationUri })
        : new DownstreamError('interaction_required', 'token_endpoint');
    }
    // The API's own credential or registration is wrong: the operator must act, the caller cannot.
    logger.error({ ...summary, description: sanitizedDescription(error.errorMessage) }, 'On-behalf-of token refused');
    return new DownstreamError('refused', 'token_endpoint');
  }
  logger.error({ event: 'obo_failed', error: describeFailure(error) }, 'On-behalf-of token request failed');
  return new DownstreamError('unavailable', 'token_endpoint');
}
