import { readFileSync } from 'node:fs';
import { extractBearerToken, type Principal } from '../auth';
import { ConfigError, type Config } from '../config';
import type { Logger } from '../observability/logger';
import { inSpan, setActiveSpanAttribute, SpanKind, tracingEnabled } from '../observability/tracing';
import type { Metrics } from '../observability/metrics';
import { msalCredential } from './credentials';
import { DownstreamError } from './errors';
import { createGraphClient, type GraphClient } from './graph';
import { createOutboundHttp, type OutboundHttp } from './http-client';
import { createOnBehalfOf, msalNetwork, type OnBehalfOf } from './on-behalf-of';
import { createOboCacheStore, type OboCacheStore } from './token-cache';

export { DownstreamError, type DownstreamFailure, type DownstreamService } from './errors';

/** Calls to other APIs as the caller of one request, reached through the GraphQL context. */
export interface Downstream {
  /** An access token for `scopes` on behalf of the caller (OAuth 2.0 on-behalf-of). Throws DownstreamError. */
  token(scopes: readonly string[]): Promise<string>;
  /** The caller's Microsoft Graph `/me` with these properties; one call per request. Throws DownstreamError. */
  graphMe(select: readonly string[]): Promise<Record<string, unknown>>;
}

export interface DownstreamClients {
  /** Outbound HTTP with the configured trust (also used for Entra ID's keys). */
  readonly http: OutboundHttp;
  /**
   * A Downstream for one verified caller, from the Authorization value(s) that carried the verified token; its log
   * lines carry `requestId`.
   */
  forCaller(principal: Principal, authorization: string | string[] | undefined, requestId: string): Downstream;
  close(): Promise<void>;
}

const notConfigured: Downstream = {
  token: () => Promise.reject(new DownstreamError('not_configured', null)),
  graphMe: () => Promise.reject(new DownstreamError('not_configured', null)),
};
const appCaller: Downstream = {
  token: () => Promise.reject(new DownstreamError('user_required', null)),
  graphMe: () => Promise.reject(new DownstreamError('user_required', null)),
};

/**
 * The downstream clients of a server: msal-node's on-behalf-of exchange with its partitioned cache, and Graph.
 * Without a credential (config.downstream.credential null) every call fails with `not_configured`.
 */
export function createDownstream(config: Config, logger: Logger, metrics: Metrics): DownstreamClients {
  const http = createOutboundHttp(config.outboundCaFile ? caFile(config.outboundCaFile) : undefined);
  const { credential } = config.downstream;
  if (credential === null) {
    return { http, forCaller: () => notConfigured, close: () => http.close() };
  }
  const log = logger.child({ module: 'downstream' });
  const timeoutMs = config.auth.httpTimeoutMs ?? 5000;
  const store: OboCacheStore = createOboCacheStore({
    maxEntries: config.downstream.oboCacheMaxEntries,
    redisUrl: config.rateLimits.redisUrl,
    logger: log,
    onStoreError: () => metrics.oboCacheStoreErrors.inc(),
  });
  const onBehalfOf: OnBehalfOf = createOnBehalfOf({
    clientId: config.auth.clientId,
    authorityHost: config.auth.authorityHost,
    credential: msalCredential(credential, {
      // The managed identity's endpoint (IMDS, App Service) is local to the host: plain HTTP, same time limit.
      networkClient: msalNetwork(http, timeoutMs),
      logger: log,
    }),
    http,
    timeoutMs,
    store,
  });
  const graph: GraphClient = createGraphClient({
    baseUrl: config.downstream.graphBaseUrl,
    timeoutMs: config.downstream.graphTimeoutMs,
    retryBudgetSeconds: config.downstream.graphRetryBudgetSeconds,
    http,
    onResponse: (status) => metrics.graphRequests.inc({ status }),
  });

  const shared = {
    onBehalfOf,
    graph,
    metrics,
    logger: log,
    authorityHostname: new URL(config.auth.authorityHost).hostname,
  };
  const forCaller = (principal: Principal, authorization: string | string[] | undefined, requestId: string) =>
    principal.kind === 'app' ? appCaller : new CallerDownstream(shared, principal, authorization, requestId);

  return {
    http,
    forCaller,
    async close() {
      await store.close();
      await http.close();
    },
  };
}

/**
 * Reads the files the downstream settings name (the extra CAs, the certificate, the federated token file) and
 * throws a ConfigError naming the setting when one is missing or wrong: the process supervising cluster workers
 * checks this once, instead of forking workers that each fail at start.
 */
export function checkDownstreamSettings(config: Config, logger: Logger): void {
  if (config.outboundCaFile) caFile(config.outboundCaFile);
  const { credential } = config.downstream;
  if (credential === null) return;
  const unused = {
    sendGetRequestAsync: () => Promise.reject(new Error('unused')),
    sendPostRequestAsync: () => Promise.reject(new Error('unused')),
  };
  msalCredential(credential, { networkClient: unused, logger });
}

function caFile(path: string): string {
  try {
    const pem = readFileSync(path, 'utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate');
    return pem;
  } catch (error) {
    throw new ConfigError([
      `OUTBOUND_CA_FILE: ${path} is not a readable PEM certificate file (${(error as Error).message})`,
    ]);
  }
}

/**
 * The downstream calls of one request's user: one object per request (it sits on every request's context, most of
 * which never call downstream), its memo made only when the profile is asked for.
 */
class CallerDownstream implements Downstream {
  private profiles: Map<string, Promise<Record<string, unknown>>> | undefined;
  private logger: Logger | undefined;

  constructor(
    private readonly shared: {
      readonly onBehalfOf: OnBehalfOf;
      readonly graph: GraphClient;
      readonly metrics: Metrics;
      readonly logger: Logger;
      readonly authorityHostname: string;
    },
    private readonly principal: Principal,
    private readonly authorization: string | string[] | undefined,
    private readonly requestId: string,
  ) {}

  /** The request's own log, made when a call is made (most requests make none). */
  private get log(): Logger {
    this.logger ??= this.shared.logger.child({ requestId: this.requestId });
    return this.logger;
  }

  token(scopes: readonly string[]): Promise<string> {
    if (!tracingEnabled()) return this.acquire(scopes);
    const attributes = { 'server.address': this.shared.authorityHostname, 'entra.obo.scopes': scopes.join(' ') };
    return inSpan('acquire token on-behalf-of', SpanKind.CLIENT, attributes, () => this.acquire(scopes));
  }

  private async acquire(scopes: readonly string[]): Promise<string> {
    const { onBehalfOf, metrics } = this.shared;
    // The token was verified from this very value: it parses.
    const assertion = extractBearerToken(this.authorization) as string;
    try {
      const { token, fromCache } = await onBehalfOf.acquire(
        assertion,
        this.principal.tenantId,
        scopes,
        this.log,
        this.principal.clientCapabilities.includes('cp1'),
      );
      metrics.oboTokens.inc({ result: fromCache ? 'cache_hit' : 'acquired' });
      if (tracingEnabled()) setActiveSpanAttribute('entra.obo.from_cache', fromCache);
      return token;
    } catch (error) {
      metrics.oboTokens.inc({ result: 'failed' });
      throw error;
    }
  }

  graphMe(select: readonly string[]): Promise<Record<string, unknown>> {
    const { graph } = this.shared;
    this.profiles ??= new Map();
    const key = select.join(',');
    let profile = this.profiles.get(key);
    if (profile === undefined) {
      profile = this.token(graph.scopes).then((accessToken) => graph.me(accessToken, select, this.log));
      this.profiles.set(key, profile);
    }
    return profile;
  }
}
