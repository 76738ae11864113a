import type { ApolloServer } from '@apollo/server';
import fastifyApollo from '@as-integrations/fastify';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Config } from '../config';
import type { DownstreamClients } from '../downstream';
import { authorizationHeaders } from '../http/authorization';
import type { Context } from '../schema/context';
import type { Authenticator } from './authenticate';
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
  await app.register(fastifyApollo(apollo), { path: '/graphql', method: ['GET', 'POST'], context });
};
