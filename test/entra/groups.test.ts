import 'reflect-metadata';
import { createTestServer, type TestServer } from '../helpers/server';
import { FINANCE_GROUP, probeServerOptions } from './probe-schema';

/**
 * `groups` drives a policy (`ledger` admits the finance group, through memberOfAnyGroup). Past the limit Entra puts
 * no `groups` in the token but points to Graph in `_claim_names` / `_claim_sources` (overage): that is refused
 * with its own reason, never read as "in no group".
 */
let api: TestServer;

beforeAll(async () => {
  api = await createTestServer({}, undefined, undefined, probeServerOptions());
});
afterAll(() => api.close());

const OTHER_GROUP = '1d2c3b4a-5f6e-4d7c-8b9a-0f1e2d3c4b5a';
const ledger = (claims: Record<string, unknown>) =>
  api.idp.mint({ claims }).then((token) => api.queryWithToken(token, '{ ledger }'));

describe('a policy on groups', () => {
  it('admits a member of the group, whatever the case of its id', async () => {
    for (const groups of [[OTHER_GROUP, FINANCE_GROUP], [FINANCE_GROUP.toUpperCase()]]) {
      const reply = await ledger({ groups });
      expect({ status: reply.status, body: reply.body }).toEqual({ status: 200, body: { data: { ledger: 'ledger' } } });
    }
  });

  it('refuses a token whose groups do not hold it, or that has none, with 403 policy_refused', async () => {
    for (const claims of [{ groups: [OTHER_GROUP] }, {}]) {
      const reply = await ledger(claims);
      expect(reply.status).toBe(403);
      expect(reply.body).toEqual({
        data: { ledger: null },
        errors: [
          {
            message: 'This operation is refused by the policies: finance',
            locations: [{ line: 1, column: 3 }],
            path: ['ledger'],
            extensions: { code: 'FORBIDDEN', reason: 'policy_refused', policies: [['finance']] },
          },
        ],
      });
    }
  });

  it('refuses an overage token with groups_overage, also when it still lists some groups', async () => {
    const overage = {
      _claim_names: { groups: 'src1' },
      _claim_sources: {
        src1: { endpoint: `https://graph.windows.net/${api.idp.tenantId}/users/ada/getMemberObjects` },
      },
    };
    for (const claims of [overage, { ...overage, groups: [FINANCE_GROUP] }, { hasgroups: true }]) {
      const reply = await ledger(claims);
      expect(reply.status).toBe(403);
      expect(reply.body).toEqual({
        data: { ledger: null },
        errors: [
          {
            message:
              'Your account is in more groups than an access token can list (group overage), so group membership cannot be decided: an administrator can emit only the groups assigned to the application',
            locations: [{ line: 1, column: 3 }],
            path: ['ledger'],
            extensions: { code: 'FORBIDDEN', reason: 'groups_overage' },
          },
        ],
      });
    }
  });
});
