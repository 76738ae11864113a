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
