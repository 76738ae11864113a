import { request } from 'node:http';
import { startIdentityProvider, type IdentityProvider } from '../src/dev/identity-provider';
import { createSigningKey } from '../src/dev/signing-key';
import { HelloDocument, HelloUsernameDocument } from './generated/graphql';
import { forge, parts } from './helpers/forge';
import { createTestServer, type Reply, type TestServer } from './helpers/server';

let idp: IdentityProvider;
let api: TestServer;

beforeAll(async () => {
  idp = await startIdentityProvider();
  api = await createTestServer({}, idp);
});
afterAll(async () => {
  await api.close();
  await idp.close();
});

/** RFC 9728's attribute, which every 401 challenge carries: where the protected resource metadata is. */
const resourceMetadata = () => `resource_metadata="${api.url}/.well-known/oauth-protected-resource"`;

function expectInvalidToken(reply: Reply, reason: string, description: string): void {
  expect(reply.status).toBe(401);
  expect(reply.headers.get('www-authenticate')).toBe(
    `Bearer error="invalid_token", error_description="${description}", ${resourceMetadata()}`,
  );
  expect(reply.body).toEqual({ errors: [{ message: description, extensions: { code: 'UNAUTHENTICATED', reason } }] });
}

describe('POST /graphql with a valid token', () => {
  it('answers a user token with 200 and the whole greeting', async () => {
    const reply = await api.queryWithToken(await idp.mint(), HelloDocument);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(reply.headers.get('cache-control')).toBe('no-store');
    expect(reply.body).toEqual({
      data: {
        hello: {
          message: 'Hello World! You are authenticated.',
          username: 'ada@contoso.example',
          employeeId: 'E-1815',
          scopes: ['access_as_user'],
          roles: [],
          name: 'Ada Lovelace',
          tenantId: idp.tenantId,
          objectId: '3f1e2d4c-5b6a-4789-8a0b-1c2d3e4f5a6b',
          kind: 'USER',
          isGuest: false,
        },
      },
    });
  });

  it('answers a v1 user token without an employee id', async () => {
    const token = await idp.mint({ version: '1.0', claims: { employeeid: undefined } });
    const reply = await api.queryWithToken(token, HelloDocument);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ data: { hello: { username: 'ada@contoso.example', employeeId: null } } });
  });

  it('answers an app token holding the app role', async () => {
    const reply = await api.queryWithToken(await idp.mint({ kind: 'app' }), HelloUsernameDocument);
    expect(reply).toMatchObject({
      status: 200,
      body: { data: { hello: { username: 'c9d8e7f6-1a2b-4c3d-9e8f-0a1b2c3d4e5f' } } },
    });
  });
});

describe('POST /graphql refused', () => {
  it('answers no Authorization header with 401 and a bare Bearer challenge', async () => {
    const reply = await api.queryWithoutToken(HelloDocument);
    expect(reply.status).toBe(401);
    expect(reply.headers.get('www-authenticate')).toBe(`Bearer ${resourceMetadata()}`);
    expect(reply.headers.get('cache-control')).toBe('no-store');
    expect(reply.body).toEqual({
      data: null,
      errors: [
        {
          message: 'Authentication required: send an Authorization: Bearer <access token> header',
          locations: [{ line: 2, column: 3 }],
          path: ['hello'],
          extensions: { code: 'UNAUTHENTICATED', reason: 'missing_token' },
        },
      ],
    });
  });

  it('answers an app token without the role with 403 insufficient_scope', async () => {
    const reply = await api.queryWithToken(await idp.mint({ kind: 'app', roles: ['Other'] }), HelloUsernameDocument);
    expect(reply.status).toBe(403);
    expect(reply.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope", scope="Hello.Read.All"');
    expect(reply.body).toEqual({
      data: null,
      errors: [
        {
          message: 'This operation needs one of the app roles: Hello.Read.All',
          locations: [{ line: 2, column: 3 }],
          path: ['hello'],
          extensions: {
            code: 'FORBIDDEN',
            reason: 'missing_app_role',
            scope: 'Hello.Read.All',
            permissions: [['Hello.Read.All']],
          },
        },
      ],
    });
  });

  it('answers a user token without the required scope with 403 insufficient_scope', async () => {
    const reply = await api.queryWithToken(await idp.mint({ scopes: 'Files.Read' }), HelloUsernameDocument);
    expect(reply.status).toBe(403);
    expect(reply.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope", scope="access_as_user"');
    expect(reply.body).toMatchObject({
      data: null,
      errors: [{ extensions: { code: 'FORBIDDEN', reason: 'insufficient_scope', scope: 'access_as_user' } }],
    });
  });

  it('answers an expired token with 401 "Token has expired"', async () => {
    const token = await idp.mint({ issuedAt: Math.floor(Date.now() / 1000) - 7200, expiresInSeconds: 3600 });
    expectInvalidToken(
      await api.queryWithToken(token, HelloDocument),
      'expired',
      'Token has expired: request a new access token',
    );
  });

  it('answers a token that is not yet valid with 401', async () => {
    const token = await idp.mint({ issuedAt: Math.floor(Date.now() / 1000) + 3600 });
    expectInvalidToken(
      await api.queryWithToken(token, HelloDocument),
      'not_yet_valid',
      'Token is not valid yet: check the clock of the client and request a new token',
    );
  });

  it('answers a tampered token with 401 bad_signature', async () => {
    const { header, payload, signature } = parts(await idp.mint());
    const token = forge(header, { ...payload, preferred_username: 'admin@contoso.example' }, signature);
    expectInvalidToken(
      await api.queryWithToken(token, HelloDocument),
      'bad_signature',
      'Invalid token signature: request a new token from Entra ID',
    );
  });

  it('answers alg none with 401', async () => {
    const { header, payload } = parts(await idp.mint());
    expectInvalidToken(
      await api.queryWithToken(forge({ ...header, alg: 'none' }, payload), HelloDocument),
      'unsupported_algorithm',
      'Invalid token: only RS256-signed Entra ID access tokens are accepted',
    );
  });

  it('answers a token for another audience with 401 naming the scope to request', async () => {
    expectInvalidToken(
      await api.queryWithToken(await idp.mint({ audience: 'api://another-api' }), HelloDocument),
      'wrong_audience',
      `Invalid token audience: request a token for this API (api://${idp.clientId}/.default)`,
    );
  });

  it('answers a token of another tenant with 401', async () => {
    expectInvalidToken(
      await api.queryWithToken(await idp.mint({ tenantId: '0f0e0d0c-0b0a-4909-8807-060504030201' }), HelloDocument),
      'wrong_issuer',
      'Invalid token issuer: request a token from the Entra ID tenant this API trusts',
    );
  });

  it('answers a token signed by an unknown key with 401', async () => {
    expectInvalidToken(
      await api.queryWithToken(await idp.mint({ key: await createSigningKey() }), HelloDocument),
      'unknown_key',
      'Invalid token: it is signed with a key the identity provider does not publish; request a new token',
    );
  });

  it('answers a Microsoft Graph token with 401 telling the client what to request', async () => {
    expectInvalidToken(
      await api.queryWithToken(await idp.mint({ audience: 'https://graph.microsoft.com' }), HelloDocument),
      'graph_token',
      `This is a Microsoft Graph token, which only Graph can validate: request a token for this API (api://${idp.clientId}/.default)`,
    );
  });

  it('answers an ID token with app roles (SPA and API sharing one registration) with 401, never as an app', async () => {
    const idToken = await idp.mint({
      claims: { scp: undefined, azp: undefined, nonce: '53dc4db4', roles: ['Hello.Read.All'] },
    });
    expectInvalidToken(
      await api.queryWithToken(idToken, '{ hello { kind username } }'),
      'not_access_token',
      "Invalid token: it names no client application ('azp' or 'appid'), so it is not an access token (an ID token?); send an access token for this API",
    );
  });

  it('answers a header whose alg is an object with 401 unsupported_algorithm, not 500', async () => {
    const token = `${Buffer.from('{"alg":{"toString":0},"kid":"x"}').toString('base64url')}.e30.c2ln`;
    expectInvalidToken(
      await api.queryWithToken(token, HelloDocument),
      'unsupported_algorithm',
      'Invalid token: only RS256-signed Entra ID access tokens are accepted',
    );
  });

  it('answers something that is not a JWT with 401 "Invalid token format"', async () => {
    expectInvalidToken(
      await api.queryWithToken('not-a-jwt', HelloDocument),
      'malformed_token',
      'Invalid token format: send an Entra ID access token (a signed JWT)',
    );
  });

  it.each(['Basic dXNlcjpwYXNz', 'Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEFoQMCAQ6iBwMFACAAAACj'])(
    'answers another scheme (%j) with 401 and a bare Bearer challenge, without error information (RFC 6750 §3.1)',
    async (authorization) => {
      const reply = await api.post(JSON.stringify({ query: '{ hello { username } }' }), { authorization });
      expect(reply.status).toBe(401);
      expect(reply.headers.get('www-authenticate')).toBe(`Bearer ${resourceMetadata()}`);
      expect(reply.body).toEqual({
        errors: [
          {
            message: "Authentication required: send an 'Authorization: Bearer <access token>' header",
            extensions: { code: 'UNAUTHENTICATED', reason: 'unsupported_scheme' },
          },
        ],
      });
    },
  );

  it.each(['Bearer', 'Bearer ', 'Bearer a.b.c d.e.f'])(
    'answers the Authorization header %j with 400 invalid_request',
    async (authorization) => {
      const reply = await api.post(JSON.stringify({ query: '{ hello { username } }' }), { authorization });
      const description =
        "The Authorization header must hold exactly one credential of the form 'Bearer <access token>'";
      expect(reply.status).toBe(400);
      expect(reply.headers.get('www-authenticate')).toBe(
        `Bearer error="invalid_request", error_description="${description}"`,
      );
      expect(reply.body).toEqual({
        errors: [{ message: description, extensions: { code: 'BAD_REQUEST', reason: 'invalid_authorization_header' } }],
      });
    },
  );

  it('answers two Authorization headers with 400 invalid_request', async () => {
    const token = await idp.mint();
    const body = JSON.stringify({ query: '{ hello { username } }' });
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      // fetch would merge the two headers into one; raw headers send them apart.
      const req = request(`${api.url}/graphql`, {
        method: 'POST',
        headers: [
          'host',
          new URL(api.url).host,
          'content-type',
          'application/json',
          'content-length',
          String(body.length),
          'authorization',
          `Bearer ${token}`,
          'authorization',
          `Bearer ${token}`,
        ],
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body)).toMatchObject({
      errors: [{ extensions: { code: 'BAD_REQUEST', reason: 'invalid_authorization_header' } }],
    });
  });

  it('logs each refusal with its reason and never the token', async () => {
    const token = await idp.mint({ audience: 'api://another-api' });
    await api.queryWithToken(token, HelloDocument);
    const line = api.logs.filter((entry) => entry['event'] === 'auth_failed').at(-1);
    expect(line).toMatchObject({ level: 40, reason: 'wrong_audience', status: 401, msg: 'Authentication failed' });
    expect(api.rawLogs()).not.toContain(token.split('.')[1]);
    expect(api.rawLogs()).not.toContain(token.split('.')[2]);
  });
});

describe('identity provider down', () => {
  it('answers 503 with Retry-After when keys were never obtained, and /readyz says not ready', async () => {
    const downIdp = await startIdentityProvider();
    downIdp.setAvailable(false);
    const down = await createTestServer({}, downIdp);
    try {
      const reply = await down.queryWithToken(await downIdp.mint(), HelloDocument);
      expect(reply.status).toBe(503);
      expect(reply.headers.get('retry-after')).toBe('30');
      expect(reply.headers.get('www-authenticate')).toBeNull();
      expect(reply.body).toEqual({
        errors: [
          {
            message: 'The identity provider is unavailable, so tokens cannot be verified now; retry later',
            extensions: { code: 'SERVICE_UNAVAILABLE', reason: 'keys_unavailable', retryAfterSeconds: 30 },
          },
        ],
      });
      expect(await down.get('/readyz')).toMatchObject({ status: 503, body: { status: 'signing keys not loaded' } });
      expect(await down.get('/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    } finally {
      await down.close();
      await downIdp.close();
    }
  });

  it('keeps accepting valid tokens with the last good keys', async () => {
    const flakyIdp = await startIdentityProvider();
    const flaky = await createTestServer({}, flakyIdp);
    try {
      flakyIdp.setAvailable(false);
      const reply = await flaky.queryWithToken(await flakyIdp.mint(), HelloUsernameDocument);
      expect(reply).toMatchObject({ status: 200, body: { data: { hello: { username: 'ada@contoso.example' } } } });
    } finally {
      await flaky.close();
      await flakyIdp.close();
    }
  });
});

describe('service routes and request handling', () => {
  it('answers /healthz and /readyz when keys are loaded', async () => {
    expect(await api.get('/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await api.get('/readyz')).toMatchObject({ status: 200, body: { status: 'ready' } });
  });

  it('answers an unknown route with a JSON 404', async () => {
    expect(await api.get('/nope')).toMatchObject({
      status: 404,
      body: { errors: [{ message: 'Not found: GraphQL is served at /graphql', extensions: { code: 'NOT_FOUND' } }] },
    });
  });

  it('answers a body that is not JSON with a JSON 400 and keeps serving', async () => {
    const reply = await api.post('{"query": ', {});
    expect(reply).toEqual(
      expect.objectContaining({
        status: 400,
        body: { errors: [{ message: 'Request body is not valid JSON', extensions: { code: 'BAD_REQUEST' } }] },
      }),
    );
    expect((await api.queryWithToken(await idp.mint(), HelloUsernameDocument)).status).toBe(200);
  });

  it('answers a body over 1 MB with 413', async () => {
    const reply = await api.post(JSON.stringify({ query: `{ hello { username } }${' '.repeat(1024 * 1024)}` }), {});
    expect(reply).toMatchObject({ status: 413, body: { errors: [{ extensions: { code: 'PAYLOAD_TOO_LARGE' } }] } });
  });

  it('lets an anonymous caller introspect outside production, for Sandbox', async () => {
    const reply = await api.queryWithoutToken('{ __schema { queryType { name } } }');
    expect(reply).toEqual(
      expect.objectContaining({ status: 200, body: { data: { __schema: { queryType: { name: 'Query' } } } } }),
    );
  });

  it('serves the Sandbox landing page to a browser outside production', async () => {
    const reply = await api.get('/graphql', { accept: 'text/html' });
    expect(reply.status).toBe(200);
    expect(String(reply.body)).toContain('embeddable-sandbox');
  });
});
