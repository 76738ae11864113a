import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly requestDuration: Histogram<'status'>;
  readonly authFailures: Counter<'reason'>;
  readonly keyFetches: Counter<'source' | 'result'>;
  readonly rateLimited: Counter<'limiter'>;
  /** Reports the signing keys' age at every scrape. */
  observeKeyAge(keyAgeSeconds: () => number | null): void;
}

/** One registry per server, so that several servers in one process (tests) keep separate counts. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    observeKeyAge(keyAgeSeconds) {
      new Gauge({
        name: 'signing_key_age_seconds',
        help: 'Age of the oldest signing key set; NaN while keys were never obtained',
        registers,
        collect() {
          this.set(keyAgeSeconds() ?? Number.NaN);
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
    rateLimited: new Counter({
      name: 'rate_limited_requests_total',
      help: 'Requests refused with 429, by limiter',
      labelNames: ['limiter'],
      registers,
    }),
  };
}
