import 'reflect-metadata';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import cors from 'cors';
import express, { type ErrorRequestHandler, type Request } from 'express';
import { createAudit } from './audit';
import { AuthError, createTokenVerifier, extractBearerToken, type Principal, type TokenVerifier } from './auth';
import type { Config } from './config';
import {
  authFailure,
  errorBody,
  ErrorCode,
  errorResponsePlugin,
  formatError,
  internalError,
  rateLimited,
} from './errors';
import { requestLogger, type Logger } from './logger';
import { createMetrics } from './metrics';
import { createRateLimits, RateLimitedError } from './rate-limits';
import { buildSchema } from './schema/build-schema';
import type { Context } from './schema/context';

export interface ServerOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** Defaults to a verifier built from `config.auth`. */
  readonly verifier?: TokenVerifier;
  /** Dev mode: a token pre-filled as the Sandbox's shared Authorization header. */
  readonly sandboxToken?: string;
}

export interface AppServer {
  readonly httpServer: Server;
  readonly verifier: TokenVerifier;
  /** Loads the signing keys, then listens; resolves to the base URL. */
  listen(port?: number, host?: string): Promise<string>;
  /** Stops accepting requests, finishes those in flight, stops key refreshes. */
  stop(): Promise<void>;
}

// Where Apollo Sandbox and Studio run, allowed as CORS origins outside production.
const DEV_ORIGINS = [
  /^https:\/\/studio\.apollographql\.com$/,
  /^https:\/\/sandbox\.embed\.apollographql\.com$/,
  /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/,
];

/** Builds the HTTP app and Apollo Server without listening. */
export async function createServer({
  config,
  logger,
  verifier: given,
  sandboxToken,
}: ServerOptions): Promise<AppServer> {
  const production = config.env === 'production';
  const metrics = createMetrics();
  const verifier =
    given ??
    createTokenVerifier({
      ...config.auth,
      logger: logger.child({ module: 'auth' }),
      onKeyFetch: ({ source, ok }) => metrics.keyFetches.inc({ source, result: ok ? 'success' : 'failure' }),
    });
  metrics.observeVerifier(verifier);
  const audit = createAudit(logger, metrics, config.logPii);
  const limits = createRateLimits(config.rateLimits, logger);

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  const httpServer = createHttpServer(app);

  const armor = new ApolloArmor({
    maxDepth: { n: config.limits.maxDepth },
    maxAliases: { n: config.limits.maxAliases },
    costLimit: { maxCost: config.limits.maxCost },
    maxDirectives: { n: config.limits.maxDirectives },
    // graphql-js's own parser limit stops token floods before a document is built.
    maxTokens: { enabled: false },
    // Apollo's own option below removes suggestions cleanly; armor's leaves a stray '?'.
    blockFieldSuggestion: { enabled: false },
  }).protect();

  const apollo = new ApolloServer<Context>({
    schema: buildSchema(config.policy),
    formatError,
    introspection: !production,
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: production,
    allowBatchedHttpRequests: false,
    parseOptions: { maxTokens: config.limits.maxTokens },
    validationRules: armor.validationRules,
    plugins: [
      ...armor.plugins,
      ApolloServerPluginDrainHttpServer({ httpServer }),
      errorResponsePlugin<Context>(),
      audit.plugin(),
      production
        ? ApolloServerPluginLandingPageDisabled()
        : ApolloServerPluginLandingPageLocalDefault({
            embed: sandboxToken
              ? { initialState: { sharedHeaders: { Authorization: `Bearer ${sandboxToken}` } } }
              : true,
            footer: false,
          }),
    ],
  });
  await apollo.start();

  async function context({ req }: { req: Request }): Promise<Context> {
    const facts = { requestId: String(req.id), clientAddress: req.ip ?? 'unknown' };
    try {
      const token = extractBearerToken(req.headersDistinct['authorization']);
      if (token === undefined) return { ...facts, principal: null };
      // Refuse an address that keeps failing before spending any signature check on it.
      await limits.assertNotBlocked(facts.clientAddress);
      const principal = await verifier.verify(token);
      await limits.consumeCaller(callerKey(principal));
      return { ...facts, principal };
    } catch (error) {
      if (error instanceof RateLimitedError) {
        audit.rateLimited(error, facts);
        throw rateLimited(error);
      }
      if (!(error instanceof AuthError)) {
        logger.error({ event: 'internal_error', ...facts, err: error }, 'Unexpected error while authenticating');
        throw internalError(facts.requestId);
      }
      if (error.status !== 503) await limits.recordAuthFailure(facts.clientAddress);
      audit.authFailed(error, facts);
      throw authFailure(error, config.auth.keyRefetchCooldownSeconds);
    }
  }

  app.use(requestLogger(logger));
  app.use((_req, res, next) => {
    const end = metrics.requestDuration.startTimer();
    res.on('finish', () => end({ status: String(res.statusCode) }));
    next();
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const ready = verifier.ready();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'signing keys not loaded' });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.use(
    '/graphql',
    cors({
      origin: production ? [...config.corsOrigins] : [...config.corsOrigins, ...DEV_ORIGINS],
      methods: ['GET', 'POST'],
      allowedHeaders: [
        'authorization',
        'content-type',
        'apollo-require-preflight',
        'x-apollo-operation-name',
        'x-request-id',
      ],
      exposedHeaders: ['www-authenticate', 'retry-after', 'x-request-id'],
      maxAge: 600,
    }),
    express.json({ limit: '1mb' }),
    expressMiddleware(apollo, { context }),
  );
  app.use((_req, res) => {
    res.status(404).json(errorBody(ErrorCode.NOT_FOUND, 'Not found: GraphQL is served at /graphql'));
  });
  const onError: ErrorRequestHandler = (error: { type?: string; status?: number }, _req, res, next) => {
    if (res.headersSent) return next(error);
    if (error.type === 'entity.too.large') {
      res.status(413).json(errorBody(ErrorCode.PAYLOAD_TOO_LARGE, 'Request body is larger than 1 MB'));
    } else if (error.status !== undefined && error.status >= 400 && error.status < 500) {
      res.status(400).json(errorBody(ErrorCode.BAD_REQUEST, 'Request body is not valid JSON'));
    } else {
      logger.error({ event: 'unhandled_error', err: error }, 'Unhandled error');
      res.status(500).json(errorBody(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error'));
    }
  };
  app.use(onError);

  return {
    httpServer,
    verifier,
    async listen(port = config.port, host = config.host) {
      await verifier.start();
      await new Promise<void>((resolve) => httpServer.listen(port, host, resolve));
      const address = httpServer.address() as AddressInfo;
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${address.port}`;
    },
    async stop() {
      verifier.stop();
      await apollo.stop();
      if (httpServer.listening) await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await limits.close();
    },
  };
}

/** Whose budget a request spends: the user (tenant + object id) or the calling app. */
function callerKey(principal: Principal): string {
  return principal.kind === 'app'
    ? `app:${principal.tenantId}:${principal.appId ?? principal.objectId}`
    : `user:${principal.tenantId}:${principal.objectId}`;
}
