import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import { subscriptionOverHttp, unsupportedOperation } from '../graphql/errors';

/**
 * Operations HTTP does not run, refused with 400 before execution: a subscription (graphql-js would run its field
 * once, as a query, and fail inside it) and an operation type the schema has no root for. One listener for every
 * request, as it keeps no state.
 */
const listener: GraphQLRequestListener<object> = {
  async didResolveOperation({ operation, schema }) {
    if (!operation) return;
    const unsupported = unsupportedOperation(schema, operation.operation);
    if (unsupported) throw unsupported;
    if (operation.operation === 'subscription') throw subscriptionOverHttp();
  },
};

export const refuseUnsupportedOperations: ApolloServerPlugin<object> = { requestDidStart: async () => listener };
