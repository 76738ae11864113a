import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Config } from '../config';
import { errorBody, ErrorCode } from '../graphql/errors';
import { requestIdOf } from '../observability/access-log';
import type { Metrics } from '../observability/metrics';
import { connectionOptions, limitConnections } from './connections';

const BODY_LIMIT = 1024 * 1024;

/**
 * The Fastify instance with the HTTP server's own bounds: body size, connection timeouts and counts, how many proxies
 * are trusted, and the request id. Fastify's own request logging is off: it writes two lines per request, the access
 * log (request-hooks.ts) one.
 */
export function createHttpApp(config: Config, metrics: Metrics): FastifyInstance {
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
  return app;
}

/** Listens, and resolves to the base URL of the address bound (`http://0.0.0.0:4000`). */
export async function listen(app: FastifyInstance, port: number, host: string): Promise<string> {
  await app.listen({ port, host });
  const address = app.server.address() as AddressInfo;
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}
