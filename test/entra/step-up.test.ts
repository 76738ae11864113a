import 'reflect-metadata';
import { createTestServer, type TestServer } from '../helpers/server';
import { graphqlWsClient, take } from '../helpers/websocket';
import { probeServerOptions } from './probe-schema';

/**
 * @requiresAuthContext('c1') with real tokens, over HTTP and at subscribe over WebSocket, in both AUTHZ_MODEs: a
 * client that takes claims challenges (xms_cc cp1) gets one; any other gets 403 auth_context_required.
 */
const servers: Partial<Record<'filter' | 'reject', TestServer>> = {};

beforeAll(async () => {
  servers.filter = await createTestServer({}, undefined, undefined, probeServerOptions());
  servers.reject = await createTestServer(
    { AUTHZ_MODE: 'reject' },
    servers.filter.idp,
    undefined,
    probeServerOptions(),
  );
});
afterAll(async () => {
  await servers.reject?.close();
  await servers.filter?.close();
});

const CLAIMS = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}';
// Where Entra signs the user in again: the authority's (here the local provider's) /common/oauth2/authorize.
const authorize = () => `${servers.filter!.idp.url}/common/oauth2/authorize`;
const challengeExtensions = () => ({
  code: 'INSUFFICIENT_CLAIMS',
  reason: 'insufficient_claims',
  authContext: 'c1',
  claims: CLAIMS,
  authorizationUri: authorize(),
});
const REFUSAL_EXTENSIONS = { code: 'FORBIDDEN', reason: 'auth_context_required', authContext: 'c1' };
const mint = (claims: Record<string, unknown>) => servers.filter!.idp.mint({ claims });

describe.each(['filter', 'reject'] as const)('a step-up in %s mode', (mode) => {
  it('over HTTP: 401 with the claims challenge in the header and in extensions, for a client with cp1', async () => {
    const api = servers[mode]!;
    const reply = await api.queryWithToken(await mint({ xms_cc: ['cp1'] }), '{ payroll }');
    expect(reply.status).toBe(401);
    expect(reply.headers.get('www-authenticate')).toBe(
      `Bearer realm="", authorization_uri="${authorize()}", error="insufficient_claims", claims="${Buffer.from(CLAIMS).toString('base64')}", resource_metadata="${api.url}/.well-known/oauth-protected-resource"`,
    );
    expect(reply.body).toMatchObject({ errors: [{ path: ['payroll'], extensions: challengeExtensions() }] });
  });

  it('over HTTP: 403 auth_context_required for a client without cp1, and the answer for a sign-in with c1', async () => {
    const api = servers[mode]!;
    const refused = await api.queryWithToken(await mint({ acrs: ['c2'] }), '{ payroll }');
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ errors: [{ path: ['payroll'], extensions: REFUSAL_EXTENSIONS }] });
    const admitted = await api.queryWithToken(await mint({ acrs: ['c1'], xms_cc: ['cp1'] }), '{ payroll }');
    expect({ status: admitted.status, body: admitted.body }).toEqual({
      status: 200,
      body: { data: { payroll: 'payroll' } },
    });
  });

  it('over WebSocket: the error at subscribe carries the challenge, or the refusal; with c1 the events come', async () => {
    const url = servers[mode]!.url;
    const cases = [
      [{ xms_cc: ['cp1'] }, challengeExtensions()],
      [{ acrs: ['c2'] }, REFUSAL_EXTENSIONS],
    ] as const;
    for (const [claims, extensions] of cases) {
      const client = graphqlWsClient(url, await mint(claims));
      try {
        const [result] = await take(client, 'subscription { payslips }', 1);
        expect(result?.errors?.map((error) => error.extensions)).toEqual([extensions]);
        expect(result?.data ?? null).toBeNull();
      } finally {
        await client.dispose();
      }
    }
    const client = graphqlWsClient(url, await mint({ acrs: ['c1'] }));
    try {
      expect(await take(client, 'subscription { payslips }', 1)).toEqual([{ data: { payslips: 'payslip' } }]);
    } finally {
      await client.dispose();
    }
  });
});
