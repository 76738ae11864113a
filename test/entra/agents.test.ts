import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { createTestServer, type TestServer } from '../helpers/server';
import { probeServerOptions } from './probe-schema';

/**
 * Entra Agent ID callers, with tokens shaped as Microsoft documents them: facet claims are numbers separated by
 * spaces (11 an agent identity, 13 an agent's user account), and xms_par_app_azp names the agent's blueprint.
 */
const BLUEPRINT = '30cf4c22-9985-4ef7-8756-91cc888176bd';
const AGENT_APP = 'aaaaaaaa-1111-4222-8333-444444444444';

let api: TestServer;

beforeAll(async () => {
  api = await createTestServer({}, undefined, undefined, probeServerOptions());
});
afterAll(() => api.close());

/** An agent identity acting on its own: an app-only token whose subject is the agent. */
const autonomousAgent = () =>
  api.idp.mint({
    kind: 'app',
    claims: {
      idtyp: 'app',
      azp: AGENT_APP,
      xms_act_fct: '3 9 11',
      xms_sub_fct: '9 3 11',
      xms_par_app_azp: BLUEPRINT,
    },
  });
/** An agent's own user account: a delegated token whose subject is the agent user. */
const agentUser = () =>
  api.idp.mint({
    claims: { oid: randomUUID(), azp: AGENT_APP, xms_act_fct: '11 3', xms_sub_fct: '13 3', xms_par_app_azp: BLUEPRINT },
  });
/** An agent acting for a person: the person's delegated token, with the agent as actor. */
const agentForPerson = () =>
  api.idp.mint({ claims: { azp: AGENT_APP, xms_act_fct: '11 3', xms_par_app_azp: BLUEPRINT } });

describe('the caller kind of agents', () => {
  it('is AGENT for an agent identity and AGENT_USER for an agent user, each admitted on its own permissions', async () => {
    for (const [token, kind] of [
      [await autonomousAgent(), 'AGENT'],
      [await agentUser(), 'AGENT_USER'],
      // The subject is the person; that an agent acts for them is what the notAgent policy reads.
      [await agentForPerson(), 'USER'],
      [await api.idp.mint(), 'USER'],
      [await api.idp.mint({ kind: 'app' }), 'APP'],
    ] as const) {
      const reply = await api.queryWithToken(token, '{ hello { kind } }');
      expect({ status: reply.status, body: reply.body }).toEqual({ status: 200, body: { data: { hello: { kind } } } });
    }
  });

  it('reads facets in any order, and ignores facets it does not know', async () => {
    const token = await api.idp.mint({ kind: 'app', claims: { xms_sub_fct: '11 9 3 21', xms_act_fct: '21' } });
    expect((await api.queryWithToken(token, '{ hello { kind } }')).body).toEqual({
      data: { hello: { kind: 'AGENT' } },
    });
  });
});

describe('the notAgent policy', () => {
  it('admits people and ordinary apps', async () => {
    for (const token of [await api.idp.mint(), await api.idp.mint({ kind: 'app' })]) {
      expect((await api.queryWithToken(token, '{ signContract }')).body).toEqual({ data: { signContract: 'signed' } });
    }
  });

  it('refuses an agent, an agent user and an agent acting for a person, with 403 agent_not_allowed', async () => {
    for (const token of [await autonomousAgent(), await agentUser(), await agentForPerson()]) {
      const reply = await api.queryWithToken(token, '{ signContract }');
      expect(reply.status).toBe(403);
      expect(reply.body).toEqual({
        data: { signContract: null },
        errors: [
          {
            message:
              'An AI agent may not call this operation, on its own or for a person: the person must call it themselves',
            locations: [{ line: 1, column: 3 }],
            path: ['signContract'],
            extensions: { code: 'FORBIDDEN', reason: 'agent_not_allowed' },
          },
        ],
      });
    }
  });

  it("logs the refusal with the agent's kind and its blueprint, never authorizing on the blueprint", async () => {
    const before = api.logs.length;
    await api.queryWithToken(await autonomousAgent(), '{ signContract }');
    await api.queryWithToken(await agentForPerson(), '{ signContract }');
    const refusals = api.logs.slice(before).filter((line) => line['event'] === 'authorization_failed');
    expect(refusals).toEqual([
      expect.objectContaining({
        reason: 'agent_not_allowed',
        kind: 'agent',
        appId: AGENT_APP,
        actedByAgent: true,
        agentBlueprintId: BLUEPRINT,
      }),
      expect.objectContaining({
        reason: 'agent_not_allowed',
        kind: 'user',
        appId: AGENT_APP,
        actedByAgent: true,
        agentBlueprintId: BLUEPRINT,
      }),
    ]);
  });

  it('names the blueprint in the log of a correctly signed agent token refused for its claims', async () => {
    const before = api.logs.length;
    const token = await api.idp.mint({
      kind: 'app',
      audience: 'api://another-api',
      claims: { azp: AGENT_APP, xms_sub_fct: '11', xms_par_app_azp: BLUEPRINT },
    });
    expect((await api.queryWithToken(token, '{ hello { kind } }')).status).toBe(401);
    expect(api.logs.slice(before).filter((line) => line['event'] === 'auth_failed')).toEqual([
      expect.objectContaining({ reason: 'wrong_audience', appId: AGENT_APP, agentBlueprintId: BLUEPRINT }),
    ]);
  });
});
