import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

export function createSubscriptionClient(url: string, getAccessToken: () => Promise<string>, signIn: () => void) {
  return createClient({
    url,
    // Node before 22 has no WebSocket of its own: give it ws's. In a browser, leave this line out.
    webSocketImpl: WebSocket,
    // Called for every connection, so a reconnect sends a token valid now. With MSAL, acquireTokenSilent returns the
    // cached token until shortly before it expires, then a new one.
    connectionParams: async () => ({ Authorization: `Bearer ${await getAccessToken()}` }),
    // graphql-ws gives up on 4400, 4401, 4429 and 4500 and reconnects on the other codes, including 4403 (the token
    // expired: reconnect with a new one), 1013 (try again later) and 1001 (the server is stopping).
    retryAttempts: Infinity,
    on: {
      closed: (event) => {
        if ((event as { code?: number }).code === 4401) signIn(); // refused for good: a new sign-in is needed
      },
    },
  });
}
