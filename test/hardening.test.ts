import { startIdentityProvider, type IdentityProvider } from '../src/dev/identity-provider';
import type { TokenVerifier } from '../src/auth';
import { HelloUsernameDocument } from './generated/graphql';
import { createTestServer, type TestServer } from './helpers/server';

let idp: IdentityProvider;
let api: TestServer;
let token: string;

beforeAll(async () => {
  idp = await startIdentityProvider();
  api = await createTestServer({}, idp);
  token = await idp.mint({ expiresInSeconds: 3600 });
});
afterAll(async () => {
  await api.close();
  await idp.close();
});

async function stillServing(server: TestServer = api): Promise<void> {
  const reply = await server.queryWithToken(token, HelloUsernameDocument);
  expect(reply).toMatchObject({ status: 200, body: { data: { hello: { username: 'ada@contoso.example' } } } });
}

const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: hello { username }`).join(' ')} }`;

describe('GraphQL limits', () => {
  it('refuses a query with 2,000 aliases with 400 at parse time, and keeps serving', async () => {
    const reply = await api.queryWithToken(token, aliases(2000));
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({
      errors: [
        {
          message: 'Syntax Error: Document contains more that 1000 tokens. Parsing aborted.',
          locations: [{ line: 1, column: expect.any(Number) }],
          extensions: { code: 'GRAPHQL_PARSE_FAILED' },
        },
      ],
    });
    await stillServing();
  });

  it('refuses more aliases than the limit even in a short document', async () => {
    const reply = await api.queryWithToken(token, aliases(16));
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({
      errors: [
        {
          message: 'Syntax Error: Aliases limit of 15 exceeded, found 16.',
          extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
        },
      ],
    });
    expect((await api.queryWithToken(token, aliases(15))).status).toBe(200);
  });

  it('refuses more directives than the limit', async () => {
    const fields = Array.from({ length: 51 }, () => '__typename @include(if: true)').join(' ');
    const reply = await api.queryWithToken(token, `{ hello { username } ${fields} }`);
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({
      errors: [
        {
          message: 'Syntax Error: Directives limit of 50 exceeded, found 51.',
          extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
        },
      ],
    });
    await stillServing();
  });

  it('refuses queries deeper or costlier than configured limits', async () => {
    const strict = await createTestServer({ GRAPHQL_MAX_DEPTH: '1', GRAPHQL_MAX_COST: '1000' }, idp);
    try {
      const deep = await strict.queryWithToken(token, HelloUsernameDocument);
      expect(deep.status).toBe(400);
      expect(deep.body).toMatchObject({
        errors: [{ message: 'Syntax Error: Query depth limit of 1 exceeded, found 2.' }],
      });
    } finally {
      await strict.close();
    }
    const cheap = await createTestServer({ GRAPHQL_MAX_COST: '2' }, idp);
    try {
      const costly = await cheap.queryWithToken(token, HelloUsernameDocument);
      expect(costly.status).toBe(400);
      expect(costly.body).toMatchObject({
        errors: [{ message: expect.stringMatching(/^Syntax Error: Query Cost limit of 2 exceeded, found [\d.]+\.$/) }],
      });
    } finally {
      await cheap.close();
    }
  });

  it('refuses batched (array) requests', async () => {
    const one = { query: '{ hello { username } }' };
    const reply = await api.post(JSON.stringify([one, one]), { authorization: `Bearer ${token}` });
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({
      errors: [{ message: 'Operation batching disabled.', extensions: { code: 'BAD_REQUEST' } }],
    });
  });

  it('refuses an Authorization header over 16 KB before reading the body, and keeps serving', async () => {
    const reply = await api.post(JSON.stringify({ query: '{ hello { username } }' }), {
      authorization: `Bearer ${'a'.repeat(17 * 1024)}`,
    });
    expect(reply.status).toBe(431);
    await stillServing();
  });

  it('refuses anonymous GET and text/plain POST without a preflight header (CSRF prevention)', async () => {
    const get = await api.get(`/graphql?query=${encodeURIComponent('{ hello { username } }')}`);
    expect(get.status).toBe(400);
    expect(get.body).toMatchObject({
      errors: [
        {
          message: expect.stringContaining(
            'This operation has been blocked as a potential Cross-Site Request Forgery (CSRF).',
          ),
          extensions: { code: 'BAD_REQUEST' },
        },
      ],
    });
    const plain = await fetch(`${api.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ query: '{ hello { username } }' }),
    });
    expect(plain.status).toBe(400);
    const preflighted = await api.get(`/graphql?query=${encodeURIComponent('{ hello { username } }')}`, {
      authorization: `Bearer ${token}`,
      'apollo-require-preflight': 'true',
    });
    expect(preflighted).toMatchObject({ status: 200, body: { data: { hello: { username: 'ada@contoso.example' } } } });
  });

  it('takes a GET that carries an Authorization header as preflighted: no browser sends one cross-origin unasked', async () => {
    const get = await api.get(`/graphql?query=${encodeURIComponent('{ hello { username } }')}`, {
      authorization: `Bearer ${token}`,
    });
    expect(get).toMatchObject({ status: 200, body: { data: { hello: { username: 'ada@contoso.example' } } } });
  });
});

describe('CORS origins by mode', () => {
  const preflight = (url: string, origin: string) =>
    fetch(`${url}/graphql`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });

  it('allows Apollo Studio, Sandbox and localhost origins outside production only', async () => {
    for (const origin of [
      'https://studio.apollographql.com',
      'https://sandbox.embed.apollographql.com',
      'http://localhost:3000',
    ]) {
      expect((await preflight(api.url, origin)).headers.get('access-control-allow-origin')).toBe(origin);
    }
    expect((await preflight(api.url, 'https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
    const prod = await createTestServer({ NODE_ENV: 'production' }, idp);
    try {
      expect(
        (await preflight(prod.url, 'https://studio.apollographql.com')).headers.get('access-control-allow-origin'),
      ).toBeNull();
      expect(
        (await preflight(prod.url, 'http://localhost:3000')).headers.get('access-control-allow-origin'),
      ).toBeNull();
    } finally {
      await prod.close();
    }
  });
});

describe('CORS headers', () => {
  const corsHeaders = (response: Response) =>
    [...response.headers.keys()].filter((name) => name.startsWith('access-control-')).sort();

  it('are absent for callers that send no Origin and for origins that are not allowed', async () => {
    const plain = await fetch(`${api.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ hello { username } }' }),
    });
    expect(plain.status).toBe(200);
    expect(corsHeaders(plain)).toEqual([]);
    expect(plain.headers.get('vary')).toBe('Origin');
    const foreign = await fetch(`${api.url}/graphql`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(foreign.status).toBe(404);
    expect(corsHeaders(foreign)).toEqual([]);
  });

  it('allow an allowed origin to read the answer and the auth headers, and to preflight', async () => {
    const origin = 'http://localhost:3000';
    const simple = await fetch(`${api.url}/graphql`, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json', authorization: 'Bearer x' },
      body: JSON.stringify({ query: '{ hello { username } }' }),
    });
    expect(simple.status).toBe(401);
    expect(simple.headers.get('access-control-allow-origin')).toBe(origin);
    expect(simple.headers.get('access-control-expose-headers')).toBe('www-authenticate, retry-after, x-request-id');
    const preflight = await fetch(`${api.url}/graphql`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.status).toBe(204);
    expect(Object.fromEntries([...preflight.headers].filter(([name]) => name.startsWith('access-control-')))).toEqual({
      'access-control-allow-origin': origin,
      'access-control-allow-methods': 'GET, POST',
      'access-control-allow-headers':
        'authorization, content-type, apollo-require-preflight, x-apollo-operation-name, x-request-id',
      'access-control-expose-headers': 'www-authenticate, retry-after, x-request-id',
      'access-control-max-age': '600',
    });
    expect(preflight.headers.get('content-length')).toBe('0');
    expect(preflight.headers.get('vary')).toBe('Origin');
  });

  it('refuse an OPTIONS from an allowed origin that names no method: it is no preflight', async () => {
    const origin = 'http://localhost:3000';
    const reply = await fetch(`${api.url}/graphql`, { method: 'OPTIONS', headers: { origin } });
    expect(reply.status).toBe(400);
    expect(reply.headers.get('content-type')).toBe('text/plain');
    expect(await reply.text()).toBe('Invalid Preflight Request');
    expect(reply.headers.get('access-control-allow-methods')).toBeNull();
  });
});

describe('production mode', () => {
  let prod: TestServer;
  beforeAll(async () => {
    prod = await createTestServer({ NODE_ENV: 'production' }, idp);
  });
  afterAll(() => prod.close());

  it('has introspection off', async () => {
    const reply = await prod.queryWithToken(token, '{ __schema { queryType { name } } }');
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ errors: [{ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }] });
  });

  it('gives no "Did you mean" suggestions', async () => {
    const reply = await prod.queryWithToken(token, '{ hello { usernam } }');
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({
      errors: [
        {
          message: 'Cannot query field "usernam" on type "User".',
          locations: [{ line: 1, column: 11 }],
          extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
        },
      ],
    });
  });

  it('serves no HTML on /, /graphql or the dev IDE paths', async () => {
    for (const path of ['/', '/graphql', '/altair', '/altair/index.html']) {
      const response = await fetch(`${prod.url}${path}`, { headers: { accept: 'text/html' } });
      expect(response.headers.get('content-type')).not.toContain('text/html');
      expect(await response.text()).not.toContain('<html');
    }
  });

  it('masks an internal error as a generic message with the request id, and logs the cause', async () => {
    const broken: TokenVerifier = {
      verify: () => Promise.reject(new Error('connection string postgres://admin:hunter2@db')),
      cached: () => undefined,
      verifyFresh: () => Promise.reject(new Error('connection string postgres://admin:hunter2@db')),
      ready: () => true,
      start: () => Promise.resolve(),
      stop: () => undefined,
      keyAgeSeconds: () => 0,
      cacheStats: () => ({ hits: 0, misses: 0, size: 0 }),
    };
    const faulty = await createTestServer({ NODE_ENV: 'production' }, idp, broken);
    try {
      const response = await fetch(`${faulty.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-request-id': 'req-42' },
        body: JSON.stringify({ query: '{ hello { username } }' }),
      });
      expect(response.status).toBe(500);
      expect(response.headers.get('x-request-id')).toBe('req-42');
      expect(await response.json()).toEqual({
        errors: [
          { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'req-42' } },
        ],
      });
      const line = faulty.logs.find((entry) => entry['event'] === 'internal_error');
      expect(line).toMatchObject({ requestId: 'req-42', level: 50 });
      await stillServing();
    } finally {
      await faulty.close();
    }
  });
});
