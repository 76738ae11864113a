import 'reflect-metadata';
import { claimsChallengeOf } from '../../src/downstream/graph';
import { startOboWorld, type OboWorld } from '../helpers/downstream';
import { createTestServer, type TestServer } from '../helpers/server';

/**
 * Continuous Access Evaluation: a CAE-capable client (xms_cc cp1) gets long-lived tokens, the API asks Graph tokens
 * for it with the cp1 capability, and Graph's claims challenge (sessions revoked) reaches the client as the 401
 * claims challenge, unchanged.
 */
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
afterEach(() => world.graph.revokeSessions(false));

const PROFILE = '{ hello { profile { displayName } } }';
const cae = (more: Record<string, unknown> = {}) => world.idp.mint({ claims: { xms_cc: ['cp1'], ...more } });

describe('Continuous Access Evaluation', () => {
  it('accepts a long-lived CAE token on its own exp (28 hours)', async () => {
    const reply = await api.queryWithToken(
      await world.idp.mint({ expiresInSeconds: 28 * 3600, claims: { xms_cc: ['cp1'] } }),
      '{ hello { kind } }',
    );
    expect({ status: reply.status, body: reply.body }).toEqual({
      status: 200,
      body: { data: { hello: { kind: 'USER' } } },
    });
  });

  it('asks for the Graph token with the cp1 capability when, and only when, the incoming token has it', async () => {
    const requested = world.idp.tokenEndpoint.claimsRequested;
    const before = requested.length;
    for (const token of [await cae(), await world.idp.mint(), await world.idp.mint({ claims: { xms_cc: ['cp2'] } })]) {
      const reply = await api.queryWithToken(token, PROFILE);
      expect(reply.body).toEqual({ data: { hello: { profile: { displayName: 'Ada Lovelace' } } } });
    }
    const capabilities = requested
      .slice(before)
      .map((claims) => (claims === null ? null : (JSON.parse(claims) as { access_token?: unknown }).access_token));
    expect(capabilities).toEqual([{ xms_cc: { values: ['cp1'] } }, null, null]);
  });

  it("passes Graph's claims challenge back as the 401 claims challenge, unchanged", async () => {
    world.graph.revokeSessions(true);
    const reply = await api.queryWithToken(await cae(), PROFILE);
    expect(reply.status).toBe(401);
    const body = reply.body as { data: unknown; errors: { extensions: Record<string, unknown> }[] };
    expect(body.data).toEqual({ hello: { profile: null } });
    const [error] = body.errors;
    expect(error?.extensions).toEqual({
      code: 'INSUFFICIENT_CLAIMS',
      reason: 'insufficient_claims',
      service: 'graph',
      claims: expect.stringMatching(/^\{"access_token":\{"nbf":\{"essential":true,"value":"\d+"\}\}\}$/),
      authorizationUri: 'https://login.microsoftonline.com/common/oauth2/authorize',
    });
    const claims = Buffer.from(String(error?.extensions['claims'])).toString('base64');
    expect(reply.headers.get('www-authenticate')).toBe(
      `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="${claims}", resource_metadata="${api.url}/.well-known/oauth-protected-resource"`,
    );
  });

  it('keeps serving a client without cp1, whose token Graph honours until it expires', async () => {
    world.graph.revokeSessions(true);
    const reply = await api.queryWithToken(await world.idp.mint(), PROFILE);
    expect({ status: reply.status, body: reply.body }).toEqual({
      status: 200,
      body: { data: { hello: { profile: { displayName: 'Ada Lovelace' } } } },
    });
  });
});

describe("reading Graph's challenge", () => {
  const claims = '{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}';
  const base64 = Buffer.from(claims).toString('base64');

  it('takes the claims and an https authorization_uri, in any order of the parameters', () => {
    expect(
      claimsChallengeOf(
        `Bearer claims="${base64}", error="insufficient_claims", authorization_uri="https://login.microsoftonline.us/common/oauth2/authorize"`,
      ),
    ).toEqual({ claims, authorizationUri: 'https://login.microsoftonline.us/common/oauth2/authorize' });
    expect(claimsChallengeOf(`Bearer error="insufficient_claims", claims="${base64}"`)).toEqual({ claims });
  });

  it('is no claims challenge without the error, with claims that are not base64 JSON, or with a bad uri', () => {
    expect(claimsChallengeOf(`Bearer error="invalid_token", claims="${base64}"`)).toBeUndefined();
    expect(claimsChallengeOf('Bearer error="insufficient_claims", claims="bm90IGpzb24="')).toBeUndefined();
    expect(claimsChallengeOf('Bearer error="insufficient_claims", claims="WzFd"')).toBeUndefined();
    expect(claimsChallengeOf(undefined)).toBeUndefined();
    expect(
      claimsChallengeOf(
        `Bearer error="insufficient_claims", claims="${base64}", authorization_uri="http://evil.example"`,
      ),
    ).toEqual({ claims });
  });
});
