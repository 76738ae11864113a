import { HeaderMap, type ApolloServerPlugin, type GraphQLRequestListener } from '@apollo/server';
import type { GraphQLError } from 'graphql';
import { refusalsOf } from '../authorization/operation';
import type { Authorization } from '../authorization/permissions';
import type { Context } from '../schema/context';

/**
 * `AUTHZ_MODE=reject` over HTTP: an operation selecting any field its caller may not read is answered with the
 * refusals alone, before execution, so nothing of it runs. The errors plugin then gives the answer its 401 or 403
 * and its challenge, as when filter mode finds nothing the caller may read.
 */
export function rejectUnauthorized(
  authorization: Authorization,
  onRefused: (errors: readonly GraphQLError[], context: Context) => void,
): ApolloServerPlugin<Context> {
  const listener: GraphQLRequestListener<Context> = {
    async responseForOperation({ schema, document, operation, request, contextValue }) {
      const variables = (request.variables ?? {}) as Record<string, unknown>;
      const refusals = await refusalsOf(schema, authorization, document, operation, variables, contextValue);
      if (refusals.length === 0) return null;
      onRefused(refusals, contextValue);
      return {
        http: { status: undefined, headers: new HeaderMap() },
        body: { kind: 'single', singleResult: { errors: refusals.map((error) => error.toJSON()) } },
      };
    },
  };
  return { requestDidStart: async () => listener };
}
