import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import fastifyApollo from '@as-integrations/fastify';
import fastifyCors from '@fastify/cors';
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { createAccessLog, pathOf, requestIdOf } from './access-log';
import { createAudit } from './audit';
import { createTokenVerifier, type TokenVerifier } from './auth';
import { createAuthenticator } from './authenticate';
import { claimsChallengeAuthorizationUri } from './authorization/permissions';
import type { Policies } from './authorization/requirements';
import type { Config } from './config';
import { createDownstream } from './downstream';
import { authenticationFailure, errorBody, ErrorCode, errorResponsePlugin, formatError } from './errors';
import type { GraphQLSchema } from 'graphql';
import type { Registry } from 'prom-client';
import type { Logger } from './logger';
import { ALTAIR_PATH, serveAltair } from './http/altair';
import { devPageRefusal } from './http/dev-pages';
import { rejectUnauthorized } from './http/reject-unauthorized';
import { refuseUnsupportedOperations } from './http/unsupported-operations';
import { serveProtectedResourceMetadata } from './http/protected-resource';
import { authorizationHeaders } from './http/authorization';
import { clientAddress } from './http/client-address';
import { connectionOptions, limitConnections } from './http/connections';
import { gracefulShutdown, type ShutdownReport } from './http/shutdown';
import { hostHeaderProblem } from './http/host-header';
import { createMetrics } from './metrics';
import { operationLimits } from './operation-limits';
import { createRateLimits } from './rate-limits';
import { buildSchema } from './schema/build-schema';
import type { Context } from './schema/context';
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

// Where Apollo Sandbox and Studio run, allowed as CORS origins outside production.
const DEV_ORIGINS = [
  /^https:\/\/studio\.apollographql\.com$/,
  /^https:\/\/sandbox\.embed\.apollographql\.com$/,
  /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/,
];
const BODY_LIMIT = 1024 * 1024;

/** Builds the HTTP app (Fastify) and Apollo Server without listening. */
export async function createServer({
  config,
  logger,
  verifier: given,
  sandboxToken,
  groupMetrics,
  bare,
  policies,
}: ServerOptions): Promise<AppServer> {
  const production = config.env === 'production';
  const metrics = createMetrics();
  const downstream = createDownstream(config, logger, metrics);
  const verifier =
    given ??
    createTokenVerifier({
      ...config.auth,
      // Entra ID behind a TLS-inspecting proxy, or dev mode's https identity provider, needs the extra trust too.
      ...(config.outboundCaFile !== undefined && { fetch: downstream.http.fetch }),
      logger: logger.child({ module: 'auth' }),
      onKeyFetch: ({ source, ok }) => metrics.keyFetches.inc({ source, result: ok ? 'success' : 'failure' }),
    });
  metrics.observeVerifier(verifier);
  const metricsText = groupMetrics ? groupMetrics(metrics.registry) : () => metrics.registry.metrics();
  const audit = createAudit(logger, metrics, config.logPii);
  const limits = createRateLimits(config.rateLimits, logger);
  const accessLog = createAccessLog(logger, metrics.requestDuration);

  // Fastify's own request logging writes two lines per request; the access log (onResponse hook below) writes one.
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    ...connectionOptions(config.http),
    // Trust exactly `trustProxy` hops for X-Forwarded-Host/-Proto; the client address is read by clientAddress().
    trustProxy: (_address: string, hop: number) => hop < config.trustProxy,
    // A request target Fastify cannot route (`http://[/graphql`) gets the API's error body, not Fastify's.
    frameworkErrors: (_error, _request, reply) => {
      void (reply as FastifyReply).code(400).send(errorBody(ErrorCode.BAD_REQUEST, 'Invalid request target'));
    },
    genReqId(req) {
      return requestIdOf(req.headers['x-request-id']);
    },
  });

  // Behind a trusted proxy every connection comes from a proxy: only the total is capped then.
  limitConnections(app.server, config.http, config.trustProxy === 0, {
    onDrop: () => metrics.connectionsDropped.inc(),
    onEvict: () => metrics.connectionsEvicted.inc(),
  });

  const operations = operationLimits(config.limits, production);

  const shutdown = gracefulShutdown(app, config.shutdown);
  const { schema, authorization } = buildSchema({
    bare,
    policies,
    authorizationUri: claimsChallengeAuthorizationUri(config.auth),
  });
  const apollo = new ApolloServer<Context>({
    // One shutdown path: main.ts's signal handlers call stop(); Apollo's own would stop it a second way.
    stopOnTerminationSignals: false,
    schema,
    formatError,
    introspection: !production,
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: production,
    allowBatchedHttpRequests: false,
    // A browser cannot send an Authorization header to another origin without a CORS preflight, so a request that
    // carries one is no CSRF risk; GraphQL clients that send queries as GET (urql) work with their defaults.
    // Anonymous GETs and text/plain POSTs still need apollo-require-preflight or x-apollo-operation-name.
    csrfPrevention: { requestHeaders: ['apollo-require-preflight', 'x-apollo-operation-name', 'authorization'] },
    parseOptions: operations.parseOptions,
    validationRules: [...operations.validationRules],
    plugins: [
      ...operations.plugins,
      errorResponsePlugin<Context>((errors, context) => audit.executionErrors(errors, context)),
      refuseUnsupportedOperations,
      ...(config.authzMode === 'reject'
        ? [rejectUnauthorized(authorization, (errors, context) => audit.executionErrors(errors, context))]
        : []),
      // Apollo's cache-control plugin wraps every field resolver to gather cache hints; this API gives none, and
      // its answers are per caller: every response says `no-store` (onRequest hook below).
      ApolloServerPluginCacheControlDisabled(),
      production
        ? ApolloServerPluginLandingPageDisabled()
        : ApolloServerPluginLandingPageLocalDefault({
            // Sandbox loads from Apollo's CDN (online only); its telemetry is off.
            embed: {
              runTelemetry: false,
              ...(sandboxToken && {
                initialState: { sharedHeaders: { Authorization: `Bearer ${sandboxToken}` } },
              }),
            },
            footer: false,
          }),
    ],
  });
  await apollo.start();

  const authenticator = createAuthenticator(verifier, limits, audit, logger);
  async function context(request: FastifyRequest): Promise<Context> {
    const facts = { requestId: request.id, clientAddress: request.clientAddress };
    try {
      const authorization = authorizationHeaders(request.raw.rawHeaders);
      const principal = await authenticator.authenticate(authorization, facts);
      return principal === null
        ? { ...facts, principal }
        : { ...facts, principal, downstream: downstream.forCaller(principal, authorization, facts.requestId) };
    } catch (error) {
      throw authenticationFailure(error, facts.requestId, config.auth.keyRefetchCooldownSeconds);
    }
  }

  app.decorateRequest('clientAddress', '');
  app.addHook('onRequest', (request, reply, done) => {
    request.clientAddress = clientAddress(
      request.raw.socket.remoteAddress,
      request.headers['x-forwarded-for'],
      config.trustProxy,
    );
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
    const problem = hostHeaderProblem(request.host, request.protocol);
    if (problem !== undefined) return void reply.code(400).send(errorBody(ErrorCode.BAD_REQUEST, problem));
    // Outside production the IDE pages hold the dev token: only a loopback host and their own origin get them.
    const refusal = production ? undefined : devPageRefusal(request, pathOf(request.url));
    if (refusal !== undefined) return void reply.code(403).send(errorBody(ErrorCode.FORBIDDEN, refusal));
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const path = pathOf(request.url);
    // The offline IDE's files (outside production only) would be a hundred lines per page load.
    if (!production && path.startsWith(`${ALTAIR_PATH}/`)) return done();
    accessLog.record({
      requestId: request.id,
      method: request.method,
      path,
      clientAddress: request.clientAddress,
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
    });
    done();
  });

  app.setNotFoundHandler(async (_request, reply) =>
    reply.code(404).send(errorBody(ErrorCode.NOT_FOUND, 'Not found: GraphQL is served at /graphql')),
  );
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send(errorBody(ErrorCode.PAYLOAD_TOO_LARGE, 'Request body is larger than 1 MB'));
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.code(415).send(errorBody(ErrorCode.BAD_REQUEST, 'Send GraphQL requests as application/json'));
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(400).send(errorBody(ErrorCode.BAD_REQUEST, 'Request body is not valid JSON'));
    }
    logger.error({ event: 'unhandled_error', requestId: request.id, err: error }, 'Unhandled error');
    return reply.code(500).send(errorBody(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error'));
  });
  const allowedOrigins: readonly (string | RegExp)[] = production
    ? config.corsOrigins
    : [...config.corsOrigins, ...DEV_ORIGINS];
  const isAllowedOrigin = (origin: string) =>
    allowedOrigins.some((allowed) => (typeof allowed === 'string' ? allowed === origin : allowed.test(origin)));
  await app.register(fastifyCors, {
    // Only an allowed Origin gets CORS headers: callers without one (servers, curl) and foreign pages get none.
    origin: (origin, callback) => callback(null, origin !== undefined && isAllowedOrigin(origin)),
    methods: 'GET, POST',
    allowedHeaders: 'authorization, content-type, apollo-require-preflight, x-apollo-operation-name, x-request-id',
    exposedHeaders: 'www-authenticate, retry-after, x-request-id',
    maxAge: 600,
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const status = shutdown.draining ? 'shutting down' : verifier.ready() ? 'ready' : 'signing keys not loaded';
    return reply.code(status === 'ready' ? 200 : 503).send({ status });
  });
  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metricsText()));
  serveProtectedResourceMetadata(app, config, authorization);
  await app.register(fastifyApollo(apollo), { path: '/graphql', method: ['GET', 'POST'], context });
  const sockets = attachWebSockets({
    server: app.server,
    schema,
    authorization,
    config,
    authenticator,
    downstream,
    audit,
    metrics,
    logger,
    operations,
    isAllowedOrigin,
    draining: () => shutdown.draining,
  });
  shutdown.onDrained((graceMs) => sockets.closeAll(graceMs));
  // Production serves no HTML at all; outside it, the offline IDE next to Apollo Sandbox.
  if (!production) await serveAltair(app, sandboxToken, logger);
  await app.ready();

  return {
    verifier,
    async listen(port = config.port, host = config.host) {
      await verifier.start();
      await app.listen({ port, host });
      const address = app.server.address() as AddressInfo;
      return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
    },
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

declare module 'fastify' {
  interface FastifyRequest {
    /** The client's normalised address (see clientAddress()), set by the first onRequest hook. */
    clientAddress: string;
  }
}
