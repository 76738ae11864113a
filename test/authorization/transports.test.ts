import 'reflect-metadata';
import { startOboWorld, type OboWorld } from '../helpers/downstream';
import { createTestServer, type TestServer } from '../helpers/server';
import { graphqlWsClient, take } from '../helpers/websocket';

/**
 * The product's own directives over HTTP and WebSocket, with real tokens, in both AUTHZ_MODEs. An app-only caller
 * may call hello (Hello.Read.All) but not read User.profile (@requiresScopes: users only).
 */
let world: OboWorld;
const servers: Partial<Record<'filter' | 'reject', TestServer>> = {};

beforeAll(async () => {
  world = await startOboWorld();
  servers.filter = await createTestServer(world.env, world.idp);
  servers.reject = await createTestServer({ ...world.env, AUTHZ_MODE: 'reject' }, world.idp);
});
afterAll(async () => {
  await servers.filter?.close();
  await servers.reject?.close();
  await world.close();
});

const QUERY = '{ hello { kind profile { displayName } } }';
const PROFILE_REFUSAL = {
  message: 'App-only tokens are not accepted by the field User.profile',
  locations: [{ line: 1, column: 16 }],
  path: ['hello', 'profile'],
  extensions: { code: 'FORBIDDEN', reason: 'app_tokens_not_accepted' },
};

describe('AUTHZ_MODE over HTTP', () => {
  it('filter: answers what the app may read, with the refused field null, and calls nothing for it', async () => {
    const before = world.idp.tokenRequests();
    const reply = await servers.filter!.queryWithToken(await world.idp.mint({ kind: 'app' }), QUERY);
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ data: { hello: { kind: 'APP', profile: null } }, errors: [PROFILE_REFUSAL] });
    expect(world.idp.tokenRequests()).toBe(before);
  });

  it('reject: refuses the whole operation with 403 and the challenge, before anything runs', async () => {
    const before = { tokens: world.idp.tokenRequests(), graph: world.graph.requestCount() };
    const reply = await servers.reject!.queryWithToken(await world.idp.mint({ kind: 'app' }), QUERY);
    expect(reply.status).toBe(403);
    expect(reply.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope"');
    expect(reply.body).toEqual({ errors: [PROFILE_REFUSAL] });
    expect({ tokens: world.idp.tokenRequests(), graph: world.graph.requestCount() }).toEqual(before);
  });

  it('reject: runs an operation the caller may read whole, profile included', async () => {
    const reply = await servers.reject!.queryWithToken(await world.idp.mint(), QUERY);
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ data: { hello: { kind: 'USER', profile: { displayName: 'Ada Lovelace' } } } });
  });

  it('reject: answers 401 with the Bearer challenge without a token', async () => {
    const reply = await servers.reject!.queryWithoutToken('{ hello { kind } }');
    expect(reply.status).toBe(401);
    expect(reply.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${servers.reject!.url}/.well-known/oauth-protected-resource"`,
    );
    expect(reply.body).toEqual({
      errors: [
        {
          message: 'Authentication required: send an Authorization: Bearer <access token> header',
          locations: [{ line: 1, column: 3 }],
          path: ['hello'],
          extensions: { code: 'UNAUTHENTICATED', reason: 'missing_token' },
        },
      ],
    });
  });

  it.each(['filter', 'reject'] as const)('%s: logs the refusal as authorization_failed', async (mode) => {
    const api = servers[mode]!;
    const before = api.logs.length;
    await api.queryWithToken(await world.idp.mint({ scopes: 'Files.Read' }), '{ hello { kind } }');
    expect(api.logs.slice(before).filter((line) => line['event'] === 'authorization_failed')).toHaveLength(1);
  });
});

describe('AUTHZ_MODE over WebSocket, decided at subscribe', () => {
  const SUBSCRIPTION = 'subscription { greetings(everySeconds: 1) { user { kind profile { displayName } } } }';

  it('filter: the subscription runs, each event with the refused field null', async () => {
    const client = graphqlWsClient(servers.filter!.url, await world.idp.mint({ kind: 'app' }));
    try {
      const error = {
        ...PROFILE_REFUSAL,
        locations: [{ line: 1, column: 57 }],
        path: ['greetings', 'user', 'profile'],
      };
      expect(await take(client, SUBSCRIPTION, 1)).toEqual([
        { data: { greetings: { user: { kind: 'APP', profile: null } } }, errors: [error] },
      ]);
    } finally {
      await client.dispose();
    }
  });

  it('reject: the subscription is refused with the errors and never starts', async () => {
    const client = graphqlWsClient(servers.reject!.url, await world.idp.mint({ kind: 'app' }));
    try {
      expect(await take(client, SUBSCRIPTION, 1)).toEqual([
        {
          errors: [
            { ...PROFILE_REFUSAL, locations: [{ line: 1, column: 57 }], path: ['greetings', 'user', 'profile'] },
          ],
        },
      ]);
      // The socket stays open for what the caller may do.
      expect(await take(client, '{ hello { kind } }', 1)).toEqual([{ data: { hello: { kind: 'APP' } } }]);
    } finally {
      await client.dispose();
    }
  });

  it.each(['filter', 'reject'] as const)(
    '%s: a user without the scope of greetings is refused at subscribe',
    async (mode) => {
      const client = graphqlWsClient(servers[mode]!.url, await world.idp.mint({ scopes: 'Files.Read' }));
      try {
        const [result] = await take(client, SUBSCRIPTION, 1);
        expect(result?.errors?.map((error) => error.extensions)).toEqual([
          { code: 'FORBIDDEN', reason: 'insufficient_scope', scope: 'access_as_user', scopes: [['access_as_user']] },
        ]);
        expect(result?.data ?? null).toBeNull();
      } finally {
        await client.dispose();
      }
    },
  );
});
