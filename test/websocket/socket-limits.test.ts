import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import { until } from '../helpers/process';
import { withTestServer, type TestServer } from '../helpers/server';
import { closedOf, graphqlWsClient, rawSocket, refusedUpgrade, take } from '../helpers/websocket';

const HELLO = '{ hello { username } }';
const GREETINGS = 'subscription { greetings(everySeconds: 60) { message } }';

let idp: IdentityProvider;
beforeAll(async () => {
  idp = await startIdentityProvider();
});
afterAll(async () => idp.close());

const withServer = (env: Record<string, string>, run: (api: TestServer) => Promise<void>) =>
  withTestServer(env, idp, run);

/** A socket that has been acknowledged, with its token in connection_init. */
async function acknowledged(api: TestServer, token: string) {
  const socket = rawSocket(api.url);
  await socket.opened;
  socket.ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${token}` } }));
  await until(() => socket.messages.length > 0);
  expect(socket.messages[0]).toEqual({ type: 'connection_ack' });
  return socket;
}

describe('upgrades refused before a socket opens', () => {
  it("refuses a browser page of a foreign origin with 403, and admits an allowed one and the API's own host", async () => {
    await withServer({ NODE_ENV: 'production', CORS_ORIGINS: 'https://app.contoso.example' }, async (api) => {
      expect(await refusedUpgrade(api.url, { origin: 'https://evil.example' })).toEqual({
        status: 403,
        body: {
          errors: [{ message: 'This origin may not open a WebSocket to this API', extensions: { code: 'FORBIDDEN' } }],
        },
      });
      for (const origin of ['https://app.contoso.example', api.url, api.url.replace('http:', 'https:')]) {
        const allowed = rawSocket(api.url, { origin });
        await allowed.opened;
        allowed.ws.close(1000);
        await allowed.closed;
      }
      // The same host name on another port is another origin.
      const otherPort = new URL(api.url);
      otherPort.port = String(Number(otherPort.port) + 1);
      expect((await refusedUpgrade(api.url, { origin: otherPort.origin })).status).toBe(403);
    });
  });

  it('answers an upgrade on another path with 404', async () => {
    await withServer({}, async (api) => {
      expect(await refusedUpgrade(api.url, {}, '/socket')).toEqual({
        status: 404,
        body: {
          errors: [
            { message: 'Not found: GraphQL over WebSocket is served at /graphql', extensions: { code: 'NOT_FOUND' } },
          ],
        },
      });
    });
  });

  it('refuses more than WS_MAX_SOCKETS_PER_ADDRESS sockets from one address with 429, until one closes', async () => {
    await withServer({ WS_MAX_SOCKETS_PER_ADDRESS: '2' }, async (api) => {
      const first = rawSocket(api.url);
      const second = rawSocket(api.url);
      await Promise.all([first.opened, second.opened]);
      expect(await refusedUpgrade(api.url)).toEqual({
        status: 429,
        body: { errors: [{ message: 'Too many WebSockets from this address', extensions: { code: 'RATE_LIMITED' } }] },
      });
      first.ws.close(1000);
      await first.closed;
      const third = rawSocket(api.url);
      await third.opened;
      second.ws.close(1000);
      third.ws.close(1000);
      await Promise.all([second.closed, third.closed]);
    });
  });
});

describe('limits on an open socket', () => {
  it('closes a socket that sends no connection_init within WS_CONNECTION_INIT_TIMEOUT_MS with 4408', async () => {
    await withServer({ WS_CONNECTION_INIT_TIMEOUT_MS: '200' }, async (api) => {
      const socket = rawSocket(api.url);
      await socket.opened;
      expect(await socket.closed).toEqual({ code: 4408, reason: 'Connection initialisation timeout' });
    });
  });

  it('closes a socket that sends a message over WS_MAX_MESSAGE_BYTES with 1009', async () => {
    await withServer({ WS_MAX_MESSAGE_BYTES: '20480' }, async (api) => {
      const socket = await acknowledged(api, await idp.mint());
      const query = `{ hello { username } }${' '.repeat(20480)}`;
      socket.ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
      expect(await socket.closed).toEqual({ code: 1009, reason: '' });
      await until(() => api.logs.some((line) => line['event'] === 'socket_closed'));
      expect(api.logs.find((line) => line['event'] === 'socket_closed')).toMatchObject({
        code: 1009,
        reason: 'message_too_big',
      });
    });
  });

  it('closes a second socket of the same caller over WS_MAX_SOCKETS_PER_CALLER with 4429 too_many_sockets', async () => {
    await withServer({ WS_MAX_SOCKETS_PER_CALLER: '1' }, async (api) => {
      const first = await acknowledged(api, await idp.mint());
      const second = rawSocket(api.url);
      await second.opened;
      second.ws.send(
        JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${await idp.mint()}` } }),
      );
      expect(await second.closed).toEqual({ code: 4429, reason: 'too_many_sockets' });
      // Another caller is not affected.
      const app = await acknowledged(api, await idp.mint({ kind: 'app' }));
      first.ws.close(1000);
      app.ws.close(1000);
      await Promise.all([first.closed, app.closed]);
    });
  });

  it('refuses an operation over WS_MAX_OPERATIONS_PER_SOCKET with RATE_LIMITED, and takes it once one completes', async () => {
    await withServer({ WS_MAX_OPERATIONS_PER_SOCKET: '1' }, async (api) => {
      const client = graphqlWsClient(api.url, await idp.mint());
      try {
        const events: unknown[] = [];
        const stop = client.subscribe(
          { query: GREETINGS },
          { next: (value) => events.push(value), error: () => undefined, complete: () => undefined },
        );
        await until(() => events.length === 1);
        expect(await take(client, HELLO, 1)).toEqual([
          {
            errors: [
              {
                message: 'At most 1 operations may run at once on one socket: complete one first',
                extensions: { code: 'RATE_LIMITED', reason: 'too_many_operations' },
              },
            ],
          },
        ]);
        stop();
        await eventually(async () => (await metric(api, 'websocket_subscriptions_active')) === 0);
        expect(await take(client, HELLO, 1)).toEqual([{ data: { hello: { username: 'ada@contoso.example' } } }]);
      } finally {
        await client.dispose();
      }
    });
  });

  it('spends the caller budget of HTTP with each operation: 429 RATE_LIMITED caller_requests', async () => {
    // The connection's authentication is one request of the budget, each operation another.
    await withServer({ RATE_LIMIT_CALLER_REQUESTS: '2' }, async (api) => {
      const client = graphqlWsClient(api.url, await idp.mint());
      try {
        expect(await take(client, HELLO, 1)).toEqual([{ data: { hello: { username: 'ada@contoso.example' } } }]);
        const [refused] = await take(client, HELLO, 1);
        expect(refused).toEqual({
          errors: [
            {
              message: expect.stringMatching(/^Too many requests: retry after \d+ s$/),
              extensions: { code: 'RATE_LIMITED', reason: 'caller_requests', retryAfterSeconds: expect.any(Number) },
            },
          ],
        });
      } finally {
        await client.dispose();
      }
    });
  });

  it('counts a refused token against the address budget shared with HTTP, then closes with 1013', async () => {
    await withServer({ RATE_LIMIT_AUTH_FAILURES: '2' }, async (api) => {
      const forged = await idp.mint({ audience: 'api://another-api' });
      for (let i = 0; i < 2; i += 1) {
        const client = graphqlWsClient(api.url, forged);
        await expect(take(client, HELLO, 1).catch((error: unknown) => error)).resolves.toEqual({
          code: 4401,
          reason: 'wrong_audience',
        });
        await client.dispose();
      }
      // Over HTTP, the address is now over budget even with a valid token it has not used before...
      expect((await api.queryWithToken(await idp.mint(), HELLO)).status).toBe(429);
      // ...and on a socket too: 1013 (try again later), which graphql-ws's client retries.
      const client = graphqlWsClient(api.url, await idp.mint());
      await expect(take(client, HELLO, 1).catch(closedOf)).resolves.toEqual({ code: 1013, reason: 'auth_failures' });
      await client.dispose();
    });
  });

  it('pings every WS_PING_INTERVAL_SECONDS and cuts a socket that stops answering', async () => {
    await withServer({ WS_PING_INTERVAL_SECONDS: '1' }, async (api) => {
      const alive = rawSocket(api.url);
      let pings = 0;
      alive.ws.on('ping', () => (pings += 1));
      const silent = rawSocket(api.url, { autoPong: false });
      await Promise.all([alive.opened, silent.opened]);
      alive.ws.send(
        JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${await idp.mint()}` } }),
      );
      silent.ws.send(
        JSON.stringify({
          type: 'connection_init',
          payload: { Authorization: `Bearer ${await idp.mint({ kind: 'app' })}` },
        }),
      );
      // Without a pong within an interval, the server cuts the connection: no close frame (1006 at the client).
      expect(await silent.closed).toEqual({ code: 1006, reason: '' });
      expect(pings).toBeGreaterThanOrEqual(1);
      expect(alive.ws.readyState).toBe(alive.ws.OPEN);
      alive.ws.close(1000);
      await alive.closed;
    });
  });
});

/** A metric without labels, as /metrics serves it. */
async function metric(api: TestServer, name: string): Promise<number | undefined> {
  const text = (await (await fetch(`${api.url}/metrics`)).text()).split('\n');
  const line = text.find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

async function eventually(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((wait) => setTimeout(wait, 20));
  }
}
