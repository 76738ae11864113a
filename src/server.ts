import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import type { Registry } from 'prom-client';
import { createTokenVerifier, type TokenVerifier } from './auth';
import { claimsChallengeAuthorizationUri } from './authorization/permissions';
import type { Policies } from './authorization/requirements';
import type { Config } from './config';
import { createDownstream, type DownstreamClients } from './downstream';
import { startApollo } from './graphql/apollo';
import { createAuthenticator } from './graphql/authenticate';
import { createFastPath } from './graphql/fast-path';
import { graphqlRoute } from './graphql/route';
import { serveAltair } from './http/altair';
import { createHttpApp, listen } from './http/app';
import { cors, originPolicy } from './http/cors';
import { errorHandler } from './http/error-handler';
import { healthRoutes } from './http/health';
import { protectedResourceRoutes } from './http/protected-resource';
import { requestHooks } from './http/request-hooks';
import { gracefulShutdown, type ShutdownReport } from './http/shutdown';
import { operationLimits } from './limits/operation-limits';
import { createRateLimits } from './limits/rate-limits';
import { createAccessLog } from './observability/access-log';
import { createAudit } from './observability/audit';
import type { Logger } from './observability/logger';
import { createMetrics, type Metrics } from './observability/metrics';
import { metricsRoute } from './observability/metrics-route';
import { tracingEnabled } from './observability/tracing';
import { buildSchema } from './schema/build-schema';
import { attachWebSockets } from './websocket/transport';

export interface ServerOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** Defaults to a verifier built from `config.auth`. */
  readonly verifier?: TokenVerifier;
  /** Dev mode: a token pre-filled as the Authorization header of Apollo Sandbox and of the offline IDE (Altair). */
  readonly sandboxToken?: string;
  /** The metrics of the whole process group (a node:cluster worker asks the primary); default: this server's. */
  readonly groupMetrics?: (own: Registry) => () => Promise<string>;
  /** The schema served, before its rules are applied; default: the resolvers of src/schema. */
  readonly bare?: GraphQLSchema;
  /** The named policies its @policy directives use; default: src/authorization/policies.ts. */
  readonly policies?: Policies;
}

export interface AppServer {
  readonly verifier: TokenVerifier;
  /** Loads the signing keys, then listens; resolves to the base URL of the address bound (`http://0.0.0.0:4000`). */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Graceful shutdown (see GracefulShutdown): readiness fails at once, requests are served for the drain period,
   * then those in flight finish until the deadline; key refreshes and Apollo stop last.
   */
  stop(): Promise<ShutdownReport>;
}

/** The composition root: builds the HTTP app (Fastify), Apollo Server and the WebSocket transport, without listening. */
export async function createServer(options: ServerOptions): Promise<AppServer> {
  const { config, logger, sandboxToken } = options;
  const metrics = createMetrics();
  const downstream = createDownstream(config, logger, metrics);
  const verifier = options.verifier ?? createVerifier(config, logger, metrics, downstream);
  metrics.observeVerifier(verifier);
  const audit = createAudit(logger, metrics, config.logPii);
  const limits = createRateLimits(config.rateLimits, logger);
  const accessLog = createAccessLog(logger, metrics.requestDuration);
  const authenticator = createAuthenticator(verifier, limits, audit, logger);
  const operations = operationLimits(config.limits, config.env === 'production');
  const authorizationUri = claimsChallengeAuthorizationUri(config.auth);
  const { schema, authorization } = buildSchema({ bare: options.bare, policies: options.policies, authorizationUri });
  const fastPath = tracingEnabled()
    ? undefined
    : createFastPath({
        schema,
        authorization,
        rejectUnauthorized: config.authzMode === 'reject',
        onErrors: (errors, context) => audit.executionErrors(errors, context),
      });
  if (fastPath) metrics.observeFastPath(fastPath.counts);
  const apollo = await startApollo({ config, schema, authorization, operations, audit, sandboxToken, fastPath });

  const app = createHttpApp(config, metrics);
  const shutdown = gracefulShutdown(app, config.shutdown);
  const draining = () => shutdown.draining;
  const isAllowedOrigin = originPolicy(config);
  await app.register(requestHooks, { config, accessLog });
  await app.register(errorHandler, { logger });
  await app.register(cors, { isAllowedOrigin });
  await app.register(healthRoutes, { keysLoaded: () => verifier.ready(), draining });
  await app.register(metricsRoute, { metrics, groupMetrics: options.groupMetrics });
  await app.register(protectedResourceRoutes, { config, authorization });
  await app.register(graphqlRoute, { apollo, authenticator, downstream, config, fastPath });
  const graphql = { config, schema, authorization, authenticator, downstream, audit, metrics, logger, operations };
  const sockets = attachWebSockets({ ...graphql, server: app.server, isAllowedOrigin, draining });
  shutdown.onDrained((graceMs) => sockets.closeAll(graceMs));
  // Production serves no HTML at all; outside it, the offline IDE next to Apollo Sandbox.
  if (config.env !== 'production') await serveAltair(app, sandboxToken, logger);
  await app.ready();

  return {
    verifier,
    async listen(port = config.port, host = config.host) {
      await verifier.start();
      return listen(app, port, host);
    },
    // Readiness fails and requests drain first; the verifier's key refreshes, Apollo and the shared clients last.
    async stop() {
      const report = await shutdown.run();
      verifier.stop();
      await apollo.stop();
      accessLog.flush();
      await limits.close();
      await downstream.close();
      return report;
    },
  };
}

/** The token verifier of `config.auth`, fetching keys with the outbound trust and counting fetches in the metrics. */
function createVerifier(
  config: Config,
  logger: Logger,
  metrics: Metrics,
  downstream: DownstreamClients,
): TokenVerifier {
  return createTokenVerifier({
    ...config.auth,
    // Entra ID behind a TLS-inspecting proxy, or dev mode's https identity provider, needs the extra trust too.
    ...(config.outboundCaFile !== undefined && { fetch: downstream.http.fetch }),
    logger: logger.child({ module: 'auth' }),
    onKeyFetch: ({ source, ok }) => metrics.keyFetches.inc({ source, result: ok ? 'success' : 'failure' }),
  });
}
