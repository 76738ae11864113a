import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TokenCacheStats } from '../auth';

export interface Metrics {
  readonly registry: Registry;
  readonly requestDuration: Histogram<'status'>;
  readonly authFailures: Counter<'reason'>;
  readonly keyFetches: Counter<'source' | 'result'>;
  readonly rateLimited: Counter<'limiter'>;
  readonly connectionsDropped: Counter;
  /** Idle connections closed to make room for a new one while every slot was taken. */
  readonly connectionsEvicted: Counter;
  /** WebSocket connections open now (graphql-ws). */
  readonly socketsOpen: Gauge;
  /** Subscriptions running now on the sockets. */
  readonly subscriptionsActive: Gauge;
  /** WebSocket closes, by close code and reason code. */
  readonly socketCloses: Counter<'code' | 'reason'>;
  readonly oboTokens: Counter<'result'>;
  readonly oboCacheStoreErrors: Counter;
  readonly graphRequests: Counter<'status'>;
  /** Reports the signing keys' age and the token cache's counts at every scrape. */
  observeVerifier(verifier: { keyAgeSeconds(): number | null; cacheStats(): TokenCacheStats }): void;
  /** Reports how many GraphQL requests over HTTP the fast path answered, and how many Apollo Server did. */
  observeFastPath(counts: { readonly answered: number; readonly handedOver: number }): void;
}

/** One registry per server, so that several servers in one process (tests) keep separate counts. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    observeVerifier(verifier) {
      new Gauge({
        name: 'signing_key_age_seconds',
        help: 'Age of the oldest signing key set; NaN while keys were never obtained',
        registers,
        // With several workers (node:cluster), the oldest of theirs.
        aggregator: 'max',
        collect() {
          this.set(verifier.keyAgeSeconds() ?? Number.NaN);
        },
      });
      new Counter({
        name: 'token_cache_lookups_total',
        help: 'Lookups in the verified-token cache, by result',
        labelNames: ['result'],
        registers,
        collect() {
          const { hits, misses } = verifier.cacheStats();
          this.reset();
          this.inc({ result: 'hit' }, hits);
          this.inc({ result: 'miss' }, misses);
        },
      });
      new Gauge({
        name: 'token_cache_hit_ratio',
        help: 'Share of token verifications answered from the cache since start',
        registers,
        aggregator: 'average',
        collect() {
          const { hits, misses } = verifier.cacheStats();
          this.set(hits + misses === 0 ? 0 : hits / (hits + misses));
        },
      });
      new Gauge({
        name: 'token_cache_entries',
        help: 'Verified tokens remembered now',
        registers,
        collect() {
          this.set(verifier.cacheStats().size);
        },
      });
    },
    observeFastPath(counts) {
      new Counter({
        name: 'graphql_http_requests_total',
        help: 'GraphQL requests over HTTP, by who answered them: the fast path, or Apollo Server',
        labelNames: ['path'],
        registers,
        collect() {
          this.reset();
          this.inc({ path: 'fast' }, counts.answered);
          this.inc({ path: 'apollo' }, counts.handedOver);
        },
      });
    },
    registry,
    requestDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Duration of HTTP requests, by status',
      labelNames: ['status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    authFailures: new Counter({
      name: 'auth_failures_total',
      help: 'Refused credentials and permissions, by reason code',
      labelNames: ['reason'],
      registers,
    }),
    keyFetches: new Counter({
      name: 'signing_key_fetches_total',
      help: 'Attempts to fetch signing keys, by metadata version and result',
      labelNames: ['source', 'result'],
      registers,
    }),
    connectionsDropped: new Counter({
      name: 'http_connections_dropped_total',
      help: 'New connections closed at once: HTTP_MAX_CONNECTIONS_PER_ADDRESS, or HTTP_MAX_CONNECTIONS all busy',
      registers,
    }),
    connectionsEvicted: new Counter({
      name: 'http_connections_evicted_total',
      help: 'Idle connections closed to make room while HTTP_MAX_CONNECTIONS were open',
      registers,
    }),
    socketsOpen: new Gauge({
      name: 'websocket_sockets_open',
      help: 'GraphQL WebSocket connections open now',
      registers,
    }),
    subscriptionsActive: new Gauge({
      name: 'websocket_subscriptions_active',
      help: 'Subscriptions running now on GraphQL WebSocket connections',
      registers,
    }),
    socketCloses: new Counter({
      name: 'websocket_closes_total',
      help: 'GraphQL WebSocket connections closed, by close code and reason code',
      labelNames: ['code', 'reason'],
      registers,
    }),
    oboTokens: new Counter({
      name: 'obo_token_requests_total',
      help: 'On-behalf-of tokens asked for, by result: cache_hit (no token-endpoint call), acquired, failed',
      labelNames: ['result'],
      registers,
    }),
    oboCacheStoreErrors: new Counter({
      name: 'obo_cache_store_errors_total',
      help: 'Reads and writes of the shared on-behalf-of token cache (Redis) that failed; tokens are acquired again',
      registers,
    }),
    graphRequests: new Counter({
      name: 'graph_requests_total',
      help: 'Requests to Microsoft Graph, by HTTP status (or unreachable, timeout)',
      labelNames: ['status'],
      registers,
    }),
    rateLimited: new Counter({
      name: 'rate_limited_requests_total',
      help: 'Requests refused with 429, by limiter',
      labelNames: ['limiter'],
      registers,
    }),
  };
}
