import 'reflect-metadata';
import { APP_ONLY_PROFILE_ERROR, startOboWorld, type OboWorld } from '../helpers/downstream';
import { createTestServer, type TestServer } from '../helpers/server';
import { graphqlWsClient, take } from '../helpers/websocket';

let world: OboWorld;
let api: TestServer;

beforeAll(async () => {
  world = await startOboWorld();
  api = await createTestServer(world.env, world.idp);
});
afterAll(async () => {
  await api.close();
  await world.close();
});

describe('User.profile over WebSocket', () => {
  it("is fetched on behalf of the socket's caller, with the token of its connection_init, in queries and in greetings", async () => {
    const token = await world.idp.mint();
    const client = graphqlWsClient(api.url, token);
    try {
      const before = world.idp.tokenRequests();
      expect(await take(client, '{ hello { profile { displayName jobTitle } } }', 1)).toEqual([
        { data: { hello: { profile: { displayName: 'Ada Lovelace', jobTitle: 'Analyst' } } } },
      ]);
      const greetings = await take(
        client,
        'subscription { greetings(everySeconds: 1) { user { profile { mail } } } }',
        2,
      );
      expect(greetings).toEqual([
        { data: { greetings: { user: { profile: { mail: 'ada@contoso.example' } } } } },
        { data: { greetings: { user: { profile: { mail: 'ada@contoso.example' } } } } },
      ]);
      // One exchange for the socket's token; every later call is a cache hit.
      expect(world.idp.tokenRequests() - before).toBe(1);
    } finally {
      await client.dispose();
    }
  });

  it("answers an app-only socket with the directive's refusal on the field", async () => {
    const client = graphqlWsClient(api.url, await world.idp.mint({ kind: 'app' }));
    try {
      expect(await take(client, '{ hello { kind profile { displayName } } }', 1)).toEqual([
        {
          data: { hello: { kind: 'APP', profile: null } },
          errors: [APP_ONLY_PROFILE_ERROR],
        },
      ]);
    } finally {
      await client.dispose();
    }
  });
});
