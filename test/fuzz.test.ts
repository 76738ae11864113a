import fc from 'fast-check';
import { startIdentityProvider, type IdentityProvider } from '../src/dev/identity-provider';
import { forge, parts } from './helpers/forge';
import { createTestServer, type TestServer } from './helpers/server';

let idp: IdentityProvider;
let api: TestServer;
let valid: string;

beforeAll(async () => {
  idp = await startIdentityProvider();
  // Budgets out of the way: this test is about what any single request can do, not about rate limits.
  api = await createTestServer({ RATE_LIMIT_AUTH_FAILURES: '1000000', LOG_LEVEL: 'error' }, idp);
  valid = await idp.mint();
});
afterAll(async () => {
  await api.close();
  await idp.close();
});

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Tokens an attacker can build without the private key: random text, and real tokens taken apart and changed. */
function unsignedToken(): fc.Arbitrary<string> {
  const { header, payload, signature } = parts(valid);
  return fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.stringMatching(/^[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,60}$/),
    fc.tuple(fc.json(), fc.json(), fc.string({ maxLength: 40 })).map(([h, p, s]) => `${b64(h)}.${b64(p)}.${b64(s)}`),
    fc
      .record({
        alg: fc.constantFrom('none', 'HS256', 'RS256', 'ES256', 'RS384', 'None', ''),
        kid: fc.option(fc.string(), { nil: undefined }),
      })
      .map((changes) => forge({ ...header, ...changes }, payload, signature)),
    fc
      .dictionary(
        fc.constantFrom('aud', 'iss', 'tid', 'ver', 'exp', 'nbf', 'scp', 'roles', 'oid', 'idtyp'),
        fc.jsonValue(),
      )
      .map((changes) => forge(header, { ...payload, ...changes }, signature)),
    fc.constantFrom(forge({ alg: 'none', typ: 'JWT' }, payload), forge(header, payload)),
  );
}

const authorization = () =>
  fc.oneof(
    fc.constant(undefined),
    unsignedToken().map((token) => `Bearer ${token}`),
    fc
      .tuple(fc.constantFrom('Bearer', 'bearer', 'Basic', 'Token', 'Bearer  ', ''), fc.string({ maxLength: 100 }))
      .map(([s, t]) => `${s} ${t}`),
    fc.string({ maxLength: 300 }).filter((value) => /^[\x20-\x7e]*$/.test(value)),
  );

const body = fc.oneof(
  fc.constant(JSON.stringify({ query: '{ hello { username scopes kind } }' })),
  fc.json().map((value) => value),
  fc.string({ maxLength: 500 }),
  fc
    .record({
      query: fc.string({ maxLength: 300 }),
      variables: fc.option(fc.jsonValue()),
      operationName: fc.option(fc.string()),
    })
    .map((value) => JSON.stringify(value)),
  fc
    .array(fc.record({ query: fc.constant('{ hello { username } }') }), { maxLength: 3 })
    .map((value) => JSON.stringify(value)),
);

const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/graphql',
  'multipart/form-data',
  '',
);

function greeted(text: string): boolean {
  try {
    const parsed = JSON.parse(text) as unknown;
    const results = Array.isArray(parsed) ? parsed : [parsed];
    return results.some((result) => (result as { data?: { hello?: unknown } } | null)?.data?.hello != null);
  } catch {
    return false;
  }
}

describe('random requests at POST /graphql', () => {
  it('never answer 5xx (other than 503), never accept an unsigned token, and never crash the server', async () => {
    await fc.assert(
      fc.asyncProperty(authorization(), body, contentType, async (auth, payload, type) => {
        const headers: Record<string, string> = {};
        if (type) headers['content-type'] = type;
        if (auth !== undefined) headers['authorization'] = auth;
        const response = await fetch(`${api.url}/graphql`, { method: 'POST', headers, body: payload });
        const text = await response.text();
        expect(response.status === 503 || response.status < 500).toBe(true);
        // No unsigned credential ever yields a caller, and no stack trace leaks.
        expect(greeted(text)).toBe(false);
        expect(text).not.toMatch(/\n\s+at /);
      }),
      { numRuns: 300, seed: 20261128 },
    );
    const reply = await api.queryWithToken(valid, '{ hello { username } }');
    expect(reply).toMatchObject({ status: 200, body: { data: { hello: { username: 'ada@contoso.example' } } } });
  });
});
