import { print } from 'graphql';
import { GreetingsDocument, type GreetingsSubscription } from '../generated/graphql';
import { parts } from '../helpers/forge';
import { until } from '../helpers/process';
import { createTestServer, type TestServer } from '../helpers/server';
import { closedOf, graphqlWsClient, rawSocket, take } from '../helpers/websocket';

const GREETINGS = print(GreetingsDocument);
const HELLO = '{ hello { username employeeId scopes } }';

let api: TestServer;

// The server's own identity provider (createTestServer starts one, and stops it on close).
beforeAll(async () => {
  api = await createTestServer();
});
afterAll(() => api.close());

const now = () => Math.floor(Date.now() / 1000);

describe('GraphQL over WebSocket (graphql-ws), with the token in connection_init', () => {
  it('streams greetings to a verified caller: at once, then every everySeconds', async () => {
    const token = await api.idp.mint();
    const client = graphqlWsClient(api.url, token);
    try {
      const started = Date.now();
      const results = await take<GreetingsSubscription>(client, GREETINGS, 2, { everySeconds: 1 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      const exp = parts(token).payload['exp'] as number;
      for (const { data, errors } of results) {
        expect(errors).toBeUndefined();
        const greeting = data!.greetings;
        expect(greeting).toEqual({
          message: 'Hello World! You are authenticated.',
          sentAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
          tokenExpiresInSeconds: exp - Math.floor(Date.parse(greeting.sentAt) / 1000),
          user: { username: 'ada@contoso.example', employeeId: 'E-1815', scopes: ['access_as_user'], kind: 'USER' },
        });
      }
      const [first, second] = results.map((result) => Date.parse(result.data!.greetings.sentAt));
      expect(second! - first!).toBeGreaterThanOrEqual(900);
    } finally {
      await client.dispose();
    }
  });

  it('answers queries on the socket too, with the same rules as HTTP', async () => {
    const client = graphqlWsClient(api.url, await api.idp.mint());
    try {
      expect(await take(client, HELLO, 1)).toEqual([
        { data: { hello: { username: 'ada@contoso.example', employeeId: 'E-1815', scopes: ['access_as_user'] } } },
      ]);
    } finally {
      await client.dispose();
    }
  });

  it('takes the token from the upgrade request when connection_init carries none (non-browser clients)', async () => {
    const socket = rawSocket(api.url, { headers: { authorization: `Bearer ${await api.idp.mint()}` } });
    await socket.opened;
    socket.ws.send(JSON.stringify({ type: 'connection_init' }));
    await until(() => socket.messages.length > 0);
    expect(socket.messages).toEqual([{ type: 'connection_ack' }]);
    socket.ws.close(1000);
    expect(await socket.closed).toEqual({ code: 1000, reason: '' });
  });

  it('refuses a user without the scope on that subscription, and the socket stays usable', async () => {
    const client = graphqlWsClient(api.url, await api.idp.mint({ scopes: 'Files.Read' }));
    const opened = () => api.logs.filter((line) => line['event'] === 'socket_opened').length;
    const before = opened();
    try {
      // A subscription refused at its start has errors and no data (GraphQL spec, CreateSourceEventStream).
      expect(await take(client, GREETINGS, 1, { everySeconds: 1 })).toEqual([
        {
          errors: [
            {
              message: 'This operation needs one of the delegated scopes: access_as_user',
              locations: [{ line: 2, column: 3 }],
              path: ['greetings'],
              extensions: {
                code: 'FORBIDDEN',
                reason: 'insufficient_scope',
                scope: 'access_as_user',
                scopes: [['access_as_user']],
              },
            },
          ],
        },
      ]);
      expect(await take(client, '{ __typename }', 1)).toEqual([{ data: { __typename: 'Query' } }]);
      expect(opened() - before).toBe(1);
      expect(api.logs.filter((line) => line['event'] === 'authorization_failed').at(-1)).toMatchObject({
        reason: 'insufficient_scope',
        path: 'greetings',
      });
    } finally {
      await client.dispose();
    }
  });

  it('refuses an everySeconds out of 1–300 with BAD_REQUEST', async () => {
    const client = graphqlWsClient(api.url, await api.idp.mint());
    try {
      const [result] = await take(client, GREETINGS, 1, { everySeconds: 301 });
      expect(result!.errors).toEqual([
        expect.objectContaining({
          message: 'everySeconds must be from 1 to 300',
          extensions: { code: 'BAD_REQUEST', reason: 'invalid_argument', argument: 'everySeconds' },
        }),
      ]);
    } finally {
      await client.dispose();
    }
  });

  it('answers a subscription sent over HTTP with an error that points to the socket, not a 500', async () => {
    const reply = await api.queryWithToken(await api.idp.mint(), 'subscription { greetings { message } }');
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({
      errors: [
        {
          message:
            'Subscriptions are served over WebSocket: connect to /graphql with the graphql-transport-ws protocol',
          extensions: { code: 'BAD_REQUEST', reason: 'subscription_over_http' },
        },
      ],
    });
  });

  it.each([
    ['an unknown operation name', '{ hello { username } }', undefined, 'Nope', 'OPERATION_RESOLUTION_FAILURE'],
    [
      'a variable of the wrong type',
      'query ($e: Boolean!) { hello @include(if: $e) { username } }',
      { e: 'x' },
      undefined,
      'BAD_USER_INPUT',
    ],
    [
      'a missing variable',
      'query ($e: Boolean!) { hello @include(if: $e) { username } }',
      {},
      undefined,
      'BAD_USER_INPUT',
    ],
  ])(
    'answers %s with the error HTTP gives (%s), not an internal error',
    async (_name, query, variables, operationName, code) => {
      const overHttp = await api.post(JSON.stringify({ query, variables, operationName }), {
        'content-type': 'application/json',
        authorization: `Bearer ${await api.idp.mint()}`,
      });
      expect(overHttp.status).toBe(400);
      const client = graphqlWsClient(api.url, await api.idp.mint());
      try {
        const results: unknown[] = [];
        const error = await new Promise((resolve) =>
          client.subscribe(
            { query, ...(variables && { variables }), ...(operationName && { operationName }) },
            { next: (value) => results.push(value), error: resolve, complete: () => resolve(undefined) },
          ),
        );
        expect(results).toEqual([]);
        expect(error).toEqual((overHttp.body as { errors: unknown[] }).errors);
        expect((error as { extensions: { code: string } }[])[0]!.extensions.code).toBe(code);
      } finally {
        await client.dispose();
      }
    },
  );

  it('applies the operation limits of HTTP: the same error for too many aliases', async () => {
    const deep = `{ ${Array.from({ length: 16 }, (_, i) => `a${i}: hello { username }`).join(' ')} }`;
    const overHttp = await api.queryWithToken(await api.idp.mint(), deep);
    const client = graphqlWsClient(api.url, await api.idp.mint());
    try {
      const [overSocket] = await take(client, deep, 1);
      expect(overSocket).toEqual({ errors: (overHttp.body as { errors: unknown[] }).errors });
      expect(overSocket!.errors![0]!.extensions!['code']).toBe('GRAPHQL_VALIDATION_FAILED');
    } finally {
      await client.dispose();
    }
  });
});

describe('refused tokens close the socket with a documented code and the reason code', () => {
  const refusal = async (token: string | undefined) => {
    const client = graphqlWsClient(api.url, token);
    try {
      await take(client, HELLO, 1);
      throw new Error('the socket was not closed');
    } catch (error) {
      return closedOf(error);
    } finally {
      await client.dispose();
    }
  };

  it.each([
    ['no token', async () => undefined, { code: 4401, reason: 'missing_token' }],
    ['a malformed token', async () => 'not-a-jwt', { code: 4401, reason: 'malformed_token' }],
    [
      'a token for another API',
      () => api.idp.mint({ audience: 'api://another-api' }),
      { code: 4401, reason: 'wrong_audience' },
    ],
    [
      'a token of another tenant',
      () => api.idp.mint({ tenantId: '0b1c2d3e-4f50-4617-8283-94a5b6c7d8e9' }),
      { code: 4401, reason: 'wrong_issuer' },
    ],
    [
      'an expired token (4403: reconnect with a new one)',
      () => api.idp.mint({ issuedAt: now() - 7200, expiresInSeconds: 3600 }),
      { code: 4403, reason: 'expired' },
    ],
  ])('%s', async (_name, token, closed) => {
    expect(await refusal(await token())).toEqual(closed);
  });

  it('logs a credential sent without a scheme as refused, over HTTP and on a socket, and never any part of it', async () => {
    const secret = 'YGlG3N_M0JcKF54h7Vr7-an-opaque-secret';
    const overHttp = await api.post(JSON.stringify({ query: HELLO }), { authorization: secret });
    expect(overHttp.status).toBe(401);
    const socket = rawSocket(api.url);
    await socket.opened;
    socket.ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: secret } }));
    expect(await socket.closed).toEqual({ code: 4401, reason: 'unsupported_scheme' });
    const refusals = api.logs.filter((line) => line['reason'] === 'unsupported_scheme').slice(-2);
    expect(refusals.map((line) => line['detail'])).toEqual([
      'an unknown scheme of 37 characters, or a credential without a scheme',
      'an unknown scheme of 37 characters, or a credential without a scheme',
    ]);
    expect(api.rawLogs()).not.toContain(secret.slice(0, 6));
  });

  it('logs the refusal with its reason and never the token', async () => {
    const token = await api.idp.mint({ audience: 'api://another-api' });
    await refusal(token);
    expect(api.logs.filter((line) => line['event'] === 'auth_failed').at(-1)).toMatchObject({
      reason: 'wrong_audience',
      status: 401,
    });
    expect(api.rawLogs()).not.toContain(token.split('.')[2]);
  });
});
