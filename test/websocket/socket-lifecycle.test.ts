import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import { until } from '../helpers/process';
import { createTestServer, type TestServer } from '../helpers/server';
import {
  closedOf,
  graphqlWsClient,
  rawSocket,
  refusedUpgrade,
  socketUrl,
  take,
  type Closed,
} from '../helpers/websocket';
import { createSubscriptionClient } from './subscription-client';

const GREETINGS = 'subscription { greetings(everySeconds: 1) { tokenExpiresInSeconds user { username } } }';

let idp: IdentityProvider;
beforeAll(async () => {
  idp = await startIdentityProvider();
});
afterAll(async () => idp.close());

const now = () => Math.floor(Date.now() / 1000);

describe('a socket lives as long as its token', () => {
  let api: TestServer;
  beforeAll(async () => {
    // No clock skew, so that the socket of a token that expires in 2 s closes 2 s after it opened.
    api = await createTestServer({ AZURE_CLOCK_SKEW_SECONDS: '0' }, idp);
  });
  afterAll(async () => api.close());

  it('closes the socket with 4403 expired once the token expires, while its subscription runs', async () => {
    const issuedAt = now();
    const token = await idp.mint({ issuedAt, expiresInSeconds: 2 });
    const events: { data?: unknown }[] = [];
    let closed: Closed | undefined;
    const client = graphqlWsClient(api.url, token, { on: { closed: (event) => (closed = closedOf(event) as Closed) } });
    const ended = new Promise<unknown>((resolve) =>
      client.subscribe(
        { query: GREETINGS },
        { next: (value) => events.push(value), error: resolve, complete: () => resolve('completed') },
      ),
    );
    const error = await ended;
    const closedAt = Date.now();
    await client.dispose();
    expect(closedOf(error)).toEqual({ code: 4403, reason: 'expired' });
    expect(closed).toEqual({ code: 4403, reason: 'expired' });
    // Not before exp (HTTP accepts the token until then), and promptly after it.
    expect(closedAt).toBeGreaterThanOrEqual((issuedAt + 2) * 1000);
    expect(closedAt).toBeLessThan((issuedAt + 2) * 1000 + 1000);
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events[0]).toEqual({
      data: { greetings: { tokenExpiresInSeconds: expect.any(Number), user: { username: 'ada@contoso.example' } } },
    });
  });

  it('keeps the socket open for the clock skew after exp, as HTTP accepts the token that long', async () => {
    const skewed = await createTestServer({ AZURE_CLOCK_SKEW_SECONDS: '2' }, idp);
    try {
      const issuedAt = now();
      const client = graphqlWsClient(skewed.url, await idp.mint({ issuedAt, expiresInSeconds: 1 }));
      const started = Date.now();
      const error = await take(client, GREETINGS, 100).catch(closedOf);
      await client.dispose();
      expect(error).toEqual({ code: 4403, reason: 'expired' });
      expect(Date.now()).toBeGreaterThanOrEqual((issuedAt + 3) * 1000);
      expect(Date.now() - started).toBeLessThan(4000);
    } finally {
      await skewed.close();
    }
  });

  it('lets the documented client reconnect with a fresh token and carry on with the subscription', async () => {
    let minted = 0;
    let signIns = 0;
    // docs/subscriptions.md's client, on Node 20 as it shows it: a token fetched for every connection, 4403 retried.
    const client = createSubscriptionClient(
      socketUrl(api.url),
      async () => {
        minted += 1;
        return idp.mint({ issuedAt: now(), expiresInSeconds: 2 });
      },
      () => (signIns += 1),
    );
    try {
      const results = await take<{ greetings: { user: { username: string } } }>(client, GREETINGS, 4);
      expect(results).toHaveLength(4);
      for (const result of results) expect(result.data!.greetings.user.username).toBe('ada@contoso.example');
      expect(minted).toBeGreaterThanOrEqual(2);
      expect(signIns).toBe(0);
      expect(
        api.logs.filter((line) => line['event'] === 'socket_closed' && line['reason'] === 'expired').length,
      ).toBeGreaterThanOrEqual(1);
    } finally {
      await client.dispose();
    }
  }, 20000);

  it('signs in again with the documented client when the token is refused for good (4401)', async () => {
    let signIns = 0;
    const client = createSubscriptionClient(
      socketUrl(api.url),
      () => idp.mint({ audience: 'api://another-api' }),
      () => (signIns += 1),
    );
    try {
      await expect(take(client, GREETINGS, 1)).rejects.toEqual({ code: 4401, reason: 'wrong_audience' });
      expect(signIns).toBe(1);
    } finally {
      await client.dispose();
    }
  });
});

describe('HTTP timeouts', () => {
  it('do not cut an open socket: it outlives the request, headers and keep-alive timeouts', async () => {
    const api = await createTestServer(
      { HTTP_REQUEST_TIMEOUT_MS: '600', HTTP_HEADERS_TIMEOUT_MS: '300', HTTP_KEEP_ALIVE_TIMEOUT_MS: '300' },
      idp,
    );
    const client = graphqlWsClient(api.url, await idp.mint());
    try {
      const started = Date.now();
      const results = await take(client, GREETINGS, 3);
      expect(results).toHaveLength(3);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    } finally {
      await client.dispose();
      await api.close();
    }
  });
});

describe('operations', () => {
  it('logs socket opens and closes with the request id, and counts sockets, subscriptions and closes in /metrics', async () => {
    const api = await createTestServer({}, idp);
    try {
      const socket = rawSocket(api.url, { headers: { 'x-request-id': 'socket-req-1' } });
      await socket.opened;
      socket.ws.send(
        JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${await idp.mint()}` } }),
      );
      await until(() => socket.messages.length === 1);
      socket.ws.send(JSON.stringify({ id: 'a', type: 'subscribe', payload: { query: GREETINGS } }));
      await until(() => socket.messages.length === 2);
      const during = await metrics(api);
      expect(during).toContain('\nwebsocket_sockets_open 1\n');
      expect(during).toContain('\nwebsocket_subscriptions_active 1\n');
      socket.ws.close(1000, 'done');
      await socket.closed;
      await until(() => api.logs.some((line) => line['event'] === 'socket_closed'));
      const after = await metrics(api);
      expect(after).toContain('\nwebsocket_sockets_open 0\n');
      expect(after).toContain('\nwebsocket_subscriptions_active 0\n');
      expect(after).toContain('\nwebsocket_closes_total{code="1000",reason="normal"} 1\n');
      expect(api.logs.find((line) => line['event'] === 'socket_opened')).toMatchObject({
        requestId: 'socket-req-1',
        clientAddress: '127.0.0.1',
        msg: 'Socket opened',
      });
      expect(api.logs.find((line) => line['event'] === 'socket_closed')).toMatchObject({
        requestId: 'socket-req-1',
        clientAddress: '127.0.0.1',
        code: 1000,
        reason: 'normal',
        durationMs: expect.any(Number),
      });
    } finally {
      await api.close();
    }
  });

  it('closes sockets with 1001 going away when the server stops, after the drain period, and refuses new ones meanwhile', async () => {
    const api = await createTestServer({ SHUTDOWN_DRAIN_SECONDS: '1', SHUTDOWN_TIMEOUT_SECONDS: '5' }, idp);
    const client = graphqlWsClient(api.url, await idp.mint());
    const events: unknown[] = [];
    const ended = new Promise<unknown>((resolve) =>
      client.subscribe(
        { query: GREETINGS },
        { next: (value) => events.push(value), error: resolve, complete: () => resolve('completed') },
      ),
    );
    await until(() => events.length >= 1);
    const stopping = Date.now();
    const stopped = api.server.stop();
    await new Promise((wait) => setTimeout(wait, 200));
    // During the drain, the socket serves on, and a new one is refused with 503.
    expect((await refusedUpgrade(api.url)).status).toBe(503);
    expect(closedOf(await ended)).toEqual({ code: 1001, reason: 'going_away' });
    expect(Date.now() - stopping).toBeGreaterThanOrEqual(1000);
    // Closed cleanly: nothing was left to cut at the deadline.
    expect(await stopped).toMatchObject({ connectionsCut: 0 });
    await client.dispose();
    expect(api.logs.find((line) => line['event'] === 'socket_closed' && line['code'] === 1001)).toMatchObject({
      reason: 'going_away',
    });
  });
});

async function metrics(api: TestServer): Promise<string> {
  return (await fetch(`${api.url}/metrics`)).text();
}
