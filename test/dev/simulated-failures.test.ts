import { SIMULATE_CLAIM, SIMULATED_FAILURES, type SimulatedFailure } from '../../src/dev/simulated-failures';
import { startOboWorld, type OboWorld } from '../helpers/downstream';
import { createTestServer, type TestServer } from '../helpers/server';

// What `npm run -s token -- --simulate <failure>` makes the local stand-ins answer, as the IDE would show it.
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

const expected: Record<SimulatedFailure, Record<string, unknown>> = {
  consent_required: { code: 'CONSENT_REQUIRED', service: 'token_endpoint' },
  interaction_required: { code: 'INTERACTION_REQUIRED', service: 'token_endpoint' },
  claims_challenge: {
    code: 'INSUFFICIENT_CLAIMS',
    service: 'token_endpoint',
    claims: '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}',
  },
  token_endpoint_throttled: { code: 'DOWNSTREAM_THROTTLED', service: 'token_endpoint', retryAfterSeconds: 30 },
  graph_throttled: { code: 'DOWNSTREAM_THROTTLED', service: 'graph', retryAfterSeconds: 60 },
  graph_unavailable: { code: 'DOWNSTREAM_UNAVAILABLE', service: 'graph' },
};

it('covers every simulated failure', () => {
  expect(Object.keys(expected).sort()).toEqual(Object.keys(SIMULATED_FAILURES).sort());
});

it.each(Object.keys(SIMULATED_FAILURES) as SimulatedFailure[])(
  'answers the profile of a token that asks for %s with that documented error, at once',
  async (failure) => {
    const token = await world.idp.mint({ claims: { [SIMULATE_CLAIM]: failure } });
    const started = Date.now();
    const reply = await api.queryWithToken(token, '{ hello { username profile { displayName } } }');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      data: { hello: { username: 'ada@contoso.example', profile: null } },
      errors: [{ path: ['hello', 'profile'], extensions: expected[failure] }],
    });
  },
);

it('answers a token without the claim normally', async () => {
  const reply = await api.queryWithToken(await world.idp.mint(), '{ hello { profile { displayName } } }');
  expect(reply.body).toEqual({ data: { hello: { profile: { displayName: 'Ada Lovelace' } } } });
});
