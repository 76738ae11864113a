import { Client, fetchExchange } from '@urql/core';

// urql sends queries as GET by default: a GET with an Authorization header is accepted.
export function createUrqlClient(uri: string, token: string) {
  return new Client({
    url: uri,
    exchanges: [fetchExchange],
    fetchOptions: { headers: { authorization: `Bearer ${token}` } },
  });
}
