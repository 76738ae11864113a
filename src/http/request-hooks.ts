import fp from 'fastify-plugin';
import type { Config } from '../config';
import { errorBody, ErrorCode } from '../graphql/errors';
import { pathOf, type AccessLog } from '../observability/access-log';
import { recordServerRequest, tracingEnabled } from '../observability/tracing';
import { ALTAIR_PATH } from './altair';
import { clientAddress } from './client-address';
import { devPageRefusal } from './dev-pages';
import { hostHeaderProblem } from './host-header';

/**
 * What every request gets before routing (its client address, request id and `no-store`; a bad Host or a dev page
 * asked from elsewhere refused) and after its answer (one access log line).
 */
export const requestHooks = fp<{ config: Config; accessLog: AccessLog }>(
  async (app, { config, accessLog }) => {
    const production = config.env === 'production';
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
    const tracing = tracingEnabled();
    app.addHook('onResponse', (request, reply, done) => {
      if (tracing) recordServerRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime);
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
  },
  { name: 'request-hooks' },
);

declare module 'fastify' {
  interface FastifyRequest {
    /** The client's normalised address (see clientAddress()), set by the first onRequest hook. */
    clientAddress: string;
  }
}
