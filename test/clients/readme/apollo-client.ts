import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { SetContextLink } from '@apollo/client/link/context';

// Apollo Client 4: an auth link in front of the HTTP link.
export function createApolloClient(uri: string, token: string) {
  const auth = new SetContextLink((previous) => ({
    headers: { ...previous['headers'], authorization: `Bearer ${token}` },
  }));
  return new ApolloClient({ link: ApolloLink.from([auth, new HttpLink({ uri })]), cache: new InMemoryCache() });
}
