import 'reflect-metadata';
import { DEV_PROFILES } from '../../src/dev/graph-stand-in';
import { DEFAULT_USER } from '../../src/dev/tokens';
import { sanitizedDescription } from '../../src/downstream/on-behalf-of';
import { PROFILE_PROPERTIES } from '../../src/schema/profile.type';
import { APP_ONLY_PROFILE_ERROR, startOboWorld, type OboWorld } from '../helpers/downstream';
import { createTestServer, withTestServer, type TestServer } from '../helpers/server';
import { freePort } from '../helpers/services';

const PROFILE_QUERY = '{ hello { username profile { displayName jobTitle department officeLocation mail } } }';
const ADA = DEV_PROFILES[DEFAULT_USER.objectId]!;
const ADA_PROFILE = {
  displayName: ADA['displayName'],
  jobTitle: ADA['jobTitle'],
  department: ADA['department'],
  officeLocation: ADA['officeLocation'],
  mail: ADA['mail'],
};

let world: OboWorld;
let api: TestServer;

beforeAll(async () => {
  world = await startOboWorld();
  api = await createTestServer({ ...world.env, GRAPH_RETRY_BUDGET_SECONDS: '2' }, world.idp);
});
afterAll(async () => {
  await api.close();
  await world.close();
});
afterEach(() => {
  world.idp.tokenEndpoint.fail(undefined);
  world.graph.fail(undefined);
  world.graph.setDelay(0);
  world.idp.setDelay(0);
});

const profileError = (code: string, reason: string, service: string | undefined, message: string, more = {}) => ({
  data: { hello: { username: DEFAULT_USER.username, profile: null } },
  errors: [
    {
      message,
      path: ['hello', 'profile'],
      locations: [{ line: 1, column: 20 }],
      extensions: { code, reason, ...(service && { service }), ...more },
    },
  ],
});

/** What a query of PROFILE_QUERY answers when Graph cannot be reached in time. */
const GRAPH_UNAVAILABLE = profileError(
  'DOWNSTREAM_UNAVAILABLE',
  'unavailable',
  'graph',
  'Microsoft Graph did not answer in time or failed: retry later',
);

describe('User.profile on behalf of the caller', () => {
  it('comes from Graph /v1.0/me with a $select of the Profile properties, and a repeated token makes no token-endpoint call', async () => {
    const token = await world.idp.mint();
    const before = world.idp.tokenRequests();
    const graphBefore = world.graph.requestCount();

    const first = await api.queryWithToken(token, PROFILE_QUERY);
    expect(first).toMatchObject({ status: 200 });
    expect(first.body).toEqual({ data: { hello: { username: DEFAULT_USER.username, profile: ADA_PROFILE } } });
    expect(world.idp.tokenRequests() - before).toBe(1);
    expect(world.graph.selects.at(-1)).toBe(PROFILE_PROPERTIES.join(','));

    const second = await api.queryWithToken(token, PROFILE_QUERY);
    expect(second.body).toEqual(first.body);
    expect(world.idp.tokenRequests() - before).toBe(1);
    expect(world.graph.requestCount() - graphBefore).toBe(2);

    // Another incoming token is another partition: its own exchange.
    await api.queryWithToken(await world.idp.mint(), PROFILE_QUERY);
    expect(world.idp.tokenRequests() - before).toBe(2);

    const metrics = String((await api.get('/metrics')).body);
    expect(metrics).toMatch(/^obo_token_requests_total\{result="cache_hit"\} 1$/m);
    expect(metrics).toMatch(/^obo_token_requests_total\{result="acquired"\} 2$/m);
  });

  it('makes one token-endpoint call for concurrent requests with one new token', async () => {
    const token = await world.idp.mint();
    const before = world.idp.tokenRequests();
    const replies = await Promise.all(Array.from({ length: 20 }, () => api.queryWithToken(token, PROFILE_QUERY)));
    for (const reply of replies) {
      expect(reply.body).toEqual({ data: { hello: { username: DEFAULT_USER.username, profile: ADA_PROFILE } } });
    }
    expect(world.idp.tokenRequests() - before).toBe(1);
  });

  it('is fetched once per request however often the query selects it', async () => {
    const token = await world.idp.mint();
    const graphBefore = world.graph.requestCount();
    const reply = await api.queryWithToken(
      token,
      '{ a: hello { profile { displayName } } b: hello { profile { jobTitle } } }',
    );
    expect(reply.body).toEqual({
      data: { a: { profile: { displayName: ADA['displayName'] } }, b: { profile: { jobTitle: ADA['jobTitle'] } } },
    });
    expect(world.graph.requestCount() - graphBefore).toBe(1);
  });

  it('is not fetched when not selected', async () => {
    const before = world.idp.tokenRequests();
    const graphBefore = world.graph.requestCount();
    const reply = await api.queryWithToken(await world.idp.mint(), '{ hello { username } }');
    expect(reply.body).toEqual({ data: { hello: { username: DEFAULT_USER.username } } });
    expect(world.idp.tokenRequests()).toBe(before);
    expect(world.graph.requestCount()).toBe(graphBefore);
  });

  it('is null for an app-only caller, refused by its directive before any exchange, and the rest of hello answers', async () => {
    const app = await world.idp.mint({ kind: 'app' });
    const before = world.idp.tokenRequests();
    const reply = await api.queryWithToken(app, '{ hello { kind profile { displayName } } }');
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      data: { hello: { kind: 'APP', profile: null } },
      errors: [APP_ONLY_PROFILE_ERROR],
    });
    expect(world.idp.tokenRequests()).toBe(before);
  });

  it('says which permission to consent to when consent is missing (AADSTS65001)', async () => {
    world.idp.tokenEndpoint.fail({ kind: 'consent_required' });
    const reply = await api.queryWithToken(await world.idp.mint(), PROFILE_QUERY);
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual(
      profileError(
        'CONSENT_REQUIRED',
        'consent_required',
        'token_endpoint',
        `Consent is missing for this API to call Microsoft Graph as you: the user or an administrator must consent to ${world.graph.url}/User.Read (AADSTS65001)`,
        { scope: `${world.graph.url}/User.Read` },
      ),
    );
  });

  it('answers INTERACTION_REQUIRED when Entra ID wants the user to sign in again', async () => {
    world.idp.tokenEndpoint.fail({ kind: 'interaction_required' });
    const reply = await api.queryWithToken(await world.idp.mint(), PROFILE_QUERY);
    expect(reply.body).toEqual(
      profileError(
        'INTERACTION_REQUIRED',
        'interaction_required',
        'token_endpoint',
        'Microsoft Entra ID requires you to sign in again before this API may act on your behalf',
      ),
    );
  });

  it('answers UNAUTHENTICATED expired when the token expired for Entra ID while still within the clock skew', async () => {
    const expired = await world.idp.mint({ issuedAt: Math.floor(Date.now() / 1000) - 3660 });
    const reply = await api.queryWithToken(expired, PROFILE_QUERY);
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      data: { hello: { username: DEFAULT_USER.username, profile: null } },
      errors: [
        {
          message: 'Token has expired: request a new access token',
          path: ['hello', 'profile'],
          locations: [{ line: 1, column: 20 }],
          extensions: { code: 'UNAUTHENTICATED', reason: 'expired', service: 'token_endpoint' },
        },
      ],
    });
  });

  it('answers 401 with a Bearer challenge when the expired profile is all that was asked (get a new token)', async () => {
    const expired = await world.idp.mint({ issuedAt: Math.floor(Date.now() / 1000) - 3660 });
    const reply = await api.queryWithToken(expired, '{ hello { profile { displayName } } }');
    expect(reply.status).toBe(401);
    expect(reply.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${api.url}/.well-known/oauth-protected-resource"`,
    );
    expect(reply.body).toEqual({
      data: { hello: { profile: null } },
      errors: [
        {
          message: 'Token has expired: request a new access token',
          path: ['hello', 'profile'],
          locations: [{ line: 1, column: 11 }],
          extensions: { code: 'UNAUTHENTICATED', reason: 'expired', service: 'token_endpoint' },
        },
      ],
    });
  });

  describe('a claims challenge (Conditional Access)', () => {
    const claims = '{"access_token":{"capolids":{"essential":true,"values":["c1a8b6e0-4b7f-4d0a-9c57-5e2d1f3a8b90"]}}}';
    const base64 = Buffer.from(claims).toString('base64');

    it('is a 401 with an insufficient_claims challenge when the answer carries no data', async () => {
      world.idp.tokenEndpoint.fail({ kind: 'claims_challenge', claims });
      const reply = await api.queryWithToken(await world.idp.mint(), '{ hello { profile { displayName } } }');
      const authorizationUri = `${world.idp.url}/${world.idp.tenantId}/oauth2/v2.0/authorize`;
      expect(reply.status).toBe(401);
      expect(reply.headers.get('www-authenticate')).toBe(
        `Bearer realm="", authorization_uri="${authorizationUri}", error="insufficient_claims", claims="${base64}", ` +
          `resource_metadata="${api.url}/.well-known/oauth-protected-resource"`,
      );
      expect(reply.body).toEqual({
        data: { hello: { profile: null } },
        errors: [
          {
            message:
              'Conditional Access requires more of your sign-in: get a new access token with the claims in extensions.claims and retry',
            path: ['hello', 'profile'],
            locations: [{ line: 1, column: 11 }],
            extensions: {
              code: 'INSUFFICIENT_CLAIMS',
              reason: 'insufficient_claims',
              service: 'token_endpoint',
              claims,
              authorizationUri,
            },
          },
        ],
      });
    });

    it('stays in extensions of a 200 when other data is answered', async () => {
      world.idp.tokenEndpoint.fail({ kind: 'claims_challenge', claims });
      const reply = await api.queryWithToken(await world.idp.mint(), PROFILE_QUERY);
      expect(reply.status).toBe(200);
      expect(reply.headers.get('www-authenticate')).toBeNull();
      expect(reply.body).toMatchObject({
        data: { hello: { username: DEFAULT_USER.username, profile: null } },
        errors: [{ extensions: { code: 'INSUFFICIENT_CLAIMS', claims } }],
      });
    });
  });

  it('says when to retry when the token endpoint throttles', async () => {
    world.idp.tokenEndpoint.fail({ kind: 'throttled', retryAfterSeconds: 7 });
    const reply = await api.queryWithToken(await world.idp.mint(), PROFILE_QUERY);
    expect(reply.body).toEqual(
      profileError(
        'DOWNSTREAM_THROTTLED',
        'throttled',
        'token_endpoint',
        'Microsoft Entra ID is throttling requests: retry after 7 s',
        { retryAfterSeconds: 7 },
      ),
    );
  });

  it("waits out Graph's Retry-After within the budget", async () => {
    world.graph.fail({ status: 429, retryAfterSeconds: 1, times: 1 });
    const graphBefore = world.graph.requestCount();
    const started = Date.now();
    const reply = await api.queryWithToken(await world.idp.mint(), PROFILE_QUERY);
    expect(reply.body).toEqual({ data: { hello: { username: DEFAULT_USER.username, profile: ADA_PROFILE } } });
    expect(world.graph.requestCount() - graphBefore).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it("fails at once when Graph's Retry-After is beyond the budget", async () => {
    world.graph.fail({ status: 429, retryAfterSeconds: 30 });
    const graphBefore = world.graph.requestCount();
    const reply = await api.queryWithToken(await world.idp.mint(), PROFILE_QUERY);
    expect(reply.body).toEqual(
      profileError(
        'DOWNSTREAM_THROTTLED',
        'throttled',
        'graph',
        'Microsoft Graph is throttling requests: retry after 30 s',
        {
          retryAfterSeconds: 30,
        },
      ),
    );
    expect(world.graph.requestCount() - graphBefore).toBe(1);
  });

  it('never spins on Retry-After: 0: each retry waits at least 1 s, and there are at most 3', async () => {
    await withTestServer({ ...world.env, GRAPH_RETRY_BUDGET_SECONDS: '10' }, world.idp, async (patient) => {
      world.graph.fail({ status: 429, retryAfterSeconds: 0 });
      const graphBefore = world.graph.requestCount();
      const started = Date.now();
      const reply = await patient.queryWithToken(await world.idp.mint(), PROFILE_QUERY);
      expect(reply.body).toEqual(
        profileError(
          'DOWNSTREAM_THROTTLED',
          'throttled',
          'graph',
          'Microsoft Graph is throttling requests: retry after 1 s',
          { retryAfterSeconds: 1 },
        ),
      );
      // The first request and three retries, each after the 1 s floor (6,304 requests in 10 s without it).
      expect(world.graph.requestCount() - graphBefore).toBe(4);
      expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    });
  });

  it('answers DOWNSTREAM_UNAVAILABLE when Graph keeps failing with 503 and no Retry-After', async () => {
    world.graph.fail({ status: 503 });
    const reply = await api.queryWithToken(await world.idp.mint(), PROFILE_QUERY);
    expect(reply.body).toEqual(GRAPH_UNAVAILABLE);
  });

  it('keeps no secret in the log: neither the incoming token nor the Graph token', async () => {
    const token = await world.idp.mint();
    await api.queryWithToken(token, PROFILE_QUERY);
    const logs = api.rawLogs();
    expect(logs).not.toContain(token);
    expect(logs).not.toContain(token.split('.')[2]);
    expect(logs).not.toMatch(/eyJ[\w-]{10,}/);
    expect(logs).not.toContain('local-test-secret');
  });
});

describe("the token endpoint's error_description in the log", () => {
  it('is one line of at most 300 characters, with runs of token characters redacted and GUIDs kept', () => {
    const assertion = `eyJ${'a'.repeat(60)}.eyJ${'b'.repeat(200)}.${'c'.repeat(80)}`;
    expect(
      sanitizedDescription(
        `AADSTS50013: Assertion failed signature validation: ${assertion}\r\nTrace ID: 0f0e0d0c-0b0a-4909-8807-060504030201`,
      ),
    ).toBe(
      'AADSTS50013: Assertion failed signature validation: [redacted] Trace ID: 0f0e0d0c-0b0a-4909-8807-060504030201',
    );
    const long = sanitizedDescription('word '.repeat(100)) as string;
    expect(long).toHaveLength(301);
    expect(long.endsWith('…')).toBe(true);
    expect(sanitizedDescription(undefined)).toBeUndefined();
  });
});

describe('time limits', () => {
  it('answers DOWNSTREAM_UNAVAILABLE when Graph does not answer within GRAPH_TIMEOUT_MS, and keeps serving', async () => {
    await withTestServer({ ...world.env, GRAPH_TIMEOUT_MS: '300' }, world.idp, async (slow) => {
      world.graph.setDelay(2000);
      const started = Date.now();
      const reply = await slow.queryWithToken(await world.idp.mint(), PROFILE_QUERY);
      expect(Date.now() - started).toBeLessThan(1500);
      expect(reply.body).toEqual(GRAPH_UNAVAILABLE);
      expect(String((await slow.get('/metrics')).body)).toMatch(/^graph_requests_total\{status="timeout"\} 1$/m);
      world.graph.setDelay(0);
      expect((await slow.queryWithToken(await world.idp.mint(), PROFILE_QUERY)).body).toEqual({
        data: { hello: { username: DEFAULT_USER.username, profile: ADA_PROFILE } },
      });
    });
  });

  it('answers DOWNSTREAM_UNAVAILABLE when the token endpoint does not answer within AZURE_HTTP_TIMEOUT_MS', async () => {
    await withTestServer({ ...world.env, AZURE_HTTP_TIMEOUT_MS: '300' }, world.idp, async (slow) => {
      // The tenant's metadata is fetched once, before; then the token endpoint goes slow.
      await slow.queryWithToken(await world.idp.mint(), PROFILE_QUERY);
      world.idp.setDelay(2000);
      const started = Date.now();
      const reply = await slow.queryWithToken(await world.idp.mint(), PROFILE_QUERY);
      expect(Date.now() - started).toBeLessThan(1500);
      expect(reply.body).toEqual(
        profileError(
          'DOWNSTREAM_UNAVAILABLE',
          'unavailable',
          'token_endpoint',
          'Microsoft Entra ID did not answer in time or failed: retry later',
        ),
      );
      expect(slow.logs.filter((line) => line['event'] === 'obo_unreachable')).toEqual([
        expect.objectContaining({ level: 40, timedOut: true }),
      ]);
    });
  });
});

describe('configuration', () => {
  it('answers DOWNSTREAM_NOT_CONFIGURED when no credential is set', async () => {
    // Only the trust of the provider's certificate: no credential.
    await withTestServer({ OUTBOUND_CA_FILE: world.env['OUTBOUND_CA_FILE']! }, world.idp, async (plain) => {
      const reply = await plain.queryWithToken(await world.idp.mint(), PROFILE_QUERY);
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual(
        profileError(
          'DOWNSTREAM_NOT_CONFIGURED',
          'not_configured',
          undefined,
          'This server is not configured to call Microsoft Graph on behalf of callers (see docs/on-behalf-of.md)',
        ),
      );
    });
  });

  it('answers DOWNSTREAM_REFUSED, and logs why for the operator, when Entra ID refuses the API credential', async () => {
    await withTestServer({ ...world.env, API_CLIENT_SECRET: 'not-the-secret' }, world.idp, async (wrong) => {
      const reply = (await wrong.queryWithToken(await world.idp.mint(), PROFILE_QUERY)) as {
        body: { errors: { extensions: { requestId: string } }[] };
      };
      const requestId = reply.body.errors[0]!.extensions.requestId;
      expect(reply.body).toEqual(
        profileError(
          'DOWNSTREAM_REFUSED',
          'refused',
          'token_endpoint',
          "Microsoft Entra ID refused this API's request; the server log says why",
          { requestId },
        ),
      );
      expect(wrong.logs.filter((line) => line['event'] === 'obo_refused')).toEqual([
        expect.objectContaining({ level: 50, error: 'invalid_client', aadsts: 7000215, requestId }),
      ]);
      expect(wrong.rawLogs()).not.toContain('not-the-secret');
    });
  });

  it('answers DOWNSTREAM_UNAVAILABLE at once when Graph cannot be reached', async () => {
    const closed = await freePort();
    await withTestServer(
      { ...world.env, GRAPH_BASE_URL: `https://127.0.0.1:${closed}` },
      world.idp,
      async (nowhere) => {
        const reply = await nowhere.queryWithToken(await world.idp.mint(), PROFILE_QUERY);
        expect(reply.body).toEqual(GRAPH_UNAVAILABLE);
        expect(String((await nowhere.get('/metrics')).body)).toMatch(
          /^graph_requests_total\{status="unreachable"\} 1$/m,
        );
      },
    );
  });

  it('answers DOWNSTREAM_REFUSED when Graph refuses the token (the stand-in checks its audience)', async () => {
    // Another spelling of the stand-in's origin: the token is issued for it, and the stand-in refuses its audience.
    await withTestServer(
      { ...world.env, GRAPH_BASE_URL: world.graph.url.replace('127.0.0.1', 'localhost') },
      world.idp,
      async (elsewhere) => {
        const reply = (await elsewhere.queryWithToken(await world.idp.mint(), PROFILE_QUERY)) as {
          body: { errors: { extensions: { requestId: string } }[] };
        };
        expect(reply.body).toEqual(
          profileError(
            'DOWNSTREAM_REFUSED',
            'refused',
            'graph',
            "Microsoft Graph refused this API's request; the server log says why",
            {
              requestId: reply.body.errors[0]!.extensions.requestId,
            },
          ),
        );
        expect(elsewhere.logs.filter((line) => line['event'] === 'graph_refused')).toEqual([
          expect.objectContaining({
            level: 50,
            status: 401,
            graphError: 'InvalidAuthenticationToken',
            requestId: reply.body.errors[0]!.extensions.requestId,
          }),
        ]);
      },
    );
  });

  it('keeps at most OBO_CACHE_MAX_ENTRIES incoming tokens in memory, least recently used out first', async () => {
    await withTestServer({ ...world.env, OBO_CACHE_MAX_ENTRIES: '2' }, world.idp, async (small) => {
      const [first, second, third] = [await world.idp.mint(), await world.idp.mint(), await world.idp.mint()];
      const before = world.idp.tokenRequests();
      for (const token of [first, second, third]) await small.queryWithToken(token, PROFILE_QUERY);
      expect(world.idp.tokenRequests() - before).toBe(3);
      await small.queryWithToken(third, PROFILE_QUERY);
      expect(world.idp.tokenRequests() - before).toBe(3);
      await small.queryWithToken(first, PROFILE_QUERY);
      expect(world.idp.tokenRequests() - before).toBe(4);
    });
  });
});
