import { GraphQLClient } from 'graphql-request';

export function createGraphqlRequestClient(uri: string, token: string) {
  return new GraphQLClient(uri, { headers: { authorization: `Bearer ${token}` } });
}
