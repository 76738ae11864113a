import 'reflect-metadata';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type ErrorRequestHandler, type Request } from 'express';
import { AuthError, createTokenVerifier, extractBearerToken, type TokenVerifier } from './auth';
import type { Config } from './config';
import { authFailure, errorBody, ErrorCode, formatError, httpStatusPlugin } from './errors';
import type { Logger } from './logger';
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

/** Builds the HTTP app and Apollo Server without listening. */
export async function createServer({
  config,
  logger,
  verifier: given,
  sandboxToken,
}: ServerOptions): Promise<AppServer> {
  const verifier = given ?? createTokenVerifier({ ...config.auth, logger: logger.child({ module: 'auth' }) });
  const app = express();
  app.disable('x-powered-by');
  const httpServer = createHttpServer(app);
  const production = config.env === 'production';

  const apollo = new ApolloServer<Context>({
    schema: buildSchema(config.policy),
    formatError,
    introspection: !production,
    includeStacktraceInErrorResponses: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      httpStatusPlugin<Context>(),
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
    try {
      const token = extractBearerToken(req.headersDistinct['authorization']);
      return { principal: token === undefined ? null : await verifier.verify(token) };
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      logger.warn(
        { event: 'auth_failed', reason: error.reason, status: error.status, detail: error.detail },
        'Authentication failed',
      );
      throw authFailure(error, config.auth.keyRefetchCooldownSeconds);
    }
  }

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const ready = verifier.ready();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'signing keys not loaded' });
  });
  app.use('/graphql', express.json({ limit: '1mb' }), expressMiddleware(apollo, { context }));
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
    },
  };
}
