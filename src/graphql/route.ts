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
import type { FastPath } from './fast-path';

/**
 * `/graphql` over HTTP (GET and POST): each request's context is its verified caller, and for a user the downstream
 * calls made on their behalf; a refused credential is answered before Apollo runs anything.
 */
export const graphqlRoute: FastifyPluginAsync<{
  apollo: ApolloServer<Context>;
  authenticator: Authenticator;
  downstream: DownstreamClients;
  config: Config;
  /** Absent with telemetry on: every request then runs through Apollo Server, in its operation span. */
  fastPath: FastPath | undefined;
}> = async (app, { apollo, authenticator, downstream, config, fastPath }) => {
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
  // A context the fast path began, for Apollo Server to answer from: it is never created twice for one request.
  const begun = new WeakMap<FastifyRequest, Promise<Context>>();
  // Typed for its own route generics; the route here declares none.
  const apolloHandler = fastifyApolloHandler(apollo, {
    context: (request: FastifyRequest) => begun.get(request) ?? context(request),
  }) as unknown as RouteHandlerMethod;

  /** The fast path's answer when it has one; otherwise Apollo Server's, from the context already begun. */
  const fastHandler = (path: FastPath): RouteHandlerMethod =>
    async function (request, reply) {
      const operation = path.operationOf(request);
      let pending: Promise<Context> | undefined;
      if (operation !== undefined) {
        pending = context(request);
        // A refused credential is Apollo Server's to answer: it maps the error to the HTTP answer.
        const answer = await pending.then((contextValue) => path.run(operation, contextValue), noAnswer);
        if (answer !== undefined) {
          path.counts.answered += 1;
          for (const [name, value] of answer.headers) void reply.header(name, value);
          void reply.code(answer.status);
          return answer.body;
        }
        begun.set(request, pending);
      }
      path.counts.handedOver += 1;
      return apolloHandler.call(this, request, reply);
    };

  // With telemetry on, each request runs in its GraphQL operation span: authentication and the calls made on the
  // caller's behalf are its children; it is Apollo Server's plugin that names the span.
  app.route({
    method: ['GET', 'POST'],
    url: '/graphql',
    handler: tracingEnabled()
      ? (request, reply) => inOperationSpan(() => apolloHandler.call(app, request, reply))
      : fastPath
        ? fastHandler(fastPath)
        : apolloHandler,
  });
};

const noAnswer = () => undefined;
