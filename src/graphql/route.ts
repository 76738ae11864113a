import type { ApolloServer } from '@apollo/server';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import type { FastifyPluginAsync, FastifyRequest, RouteHandlerMethod } from 'fastify';
import type { Config } from '../config';
import type { DownstreamClients } from '../downstream';
import { authorizationHeaders } from '../http/authorization';
import type { Context } from '../schema/context';
import type { Authenticator } from './authenticate';
import { inOperationSpan, tracingEnabled } from '../observability/tracing';
import { authenticationFailure } from './errors';

/**
 * `/graphql` over HTTP (GET and POST): each request's context is its verified caller, and for a user the downstream
 * calls made on their behalf; a refused credential is answered before Apollo runs anything.
 */
export const graphqlRoute: FastifyPluginAsync<{
  apollo: ApolloServer<Context>;
  authenticator: Authenticator;
  downstream: DownstreamClients;
  config: Config;
}> = async (app, { apollo, authenticator, downstream, config }) => {
  function context(request: FastifyRequest): Promise<Context> {
    const { id: requestId, clientAddress } = request;
    const authorization = authorizationHeaders(request.raw.rawHeaders);
    // One shape for every context, built without spreading: the resolvers that read it see one hidden class.
    return authenticator.authenticate(authorization, { requestId, clientAddress }).then(
      (principal): Context => ({
        requestId,
        clientAddress,
        principal,
        downstream: principal === null ? undefined : downstream.forCaller(principal, authorization, requestId),
      }),
      (error: unknown) => {
        throw authenticationFailure(error, requestId, config.auth.keyRefetchCooldownSeconds);
      },
    );
  }
  // Typed for its own route generics; the route here declares none.
  const handler = fastifyApolloHandler(apollo, { context }) as unknown as RouteHandlerMethod;
  // With telemetry on, each request runs in its GraphQL operation span: authentication and the calls made on the
  // caller's behalf are its children.
  app.route({
    method: ['GET', 'POST'],
    url: '/graphql',
    handler: tracingEnabled() ? (request, reply) => inOperationSpan(() => handler.call(app, request, reply)) : handler,
  });
};
