// A token the verified-token cache remembers is answered without parsing its header again (src/graphql/authenticate.ts):
// these pin down that the short way answers exactly as the full one, and that it vouches for nothing else.
import { startIdentityProvider, type IdentityProvider } from '../src/dev/identity-provider';
import { forge, parts } from './helpers/forge';
import { createTestServer, type TestServer } from './helpers/server';

let idp: IdentityProvider;
let api: TestServer;

beforeAll(async () => {
  idp = await startIdentityProvider();
});
beforeEach(async () => {
  api = await createTestServer({}, idp);
});
afterEach(() => api.close());
afterAll(() => idp.close());

const QUERY = JSON.stringify({ query: '{ hello { username } }' });
const GREETING = { data: { hello: { username: 'ada@contoso.example' } } };
const send = (authorization: string) => api.post(QUERY, { 'content-type': 'application/json', authorization });

async function cacheLookups(): Promise<{ hit: number; miss: number }> {
  const text = await (await fetch(`${api.url}/metrics`)).text();
  const count = (result: string) =>
    Number(new RegExp(`^token_cache_lookups_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
  return { hit: count('hit'), miss: count('miss') };
}

/** Sent twice, so that the cache (which admits a token on its second verification) holds it. */
async function remembered(): Promise<string> {
  const token = await idp.mint();
  for (let i = 0; i < 2; i += 1) expect(await send(`Bearer ${token}`)).toMatchObject({ status: 200, body: GREETING });
  expect(await cacheLookups()).toEqual({ hit: 0, miss: 2 });
  return token;
}

describe('a token the cache remembers', () => {
  it('is the same caller however the header spells it, with one cache lookup per request', async () => {
    const token = await remembered();
    const spellings = [
      `Bearer ${token}`,
      `bearer ${token}`,
      `BEARER ${token}`,
      `Bearer   ${token}`,
      `Bearer ${token}  `,
    ];
    for (const header of spellings) {
      const reply = await send(header);
      expect([header.replace(token, '<token>'), reply.status, reply.body]).toEqual([
        header.replace(token, '<token>'),
        200,
        GREETING,
      ]);
    }
    expect(await cacheLookups()).toEqual({ hit: spellings.length, miss: 2 });
  });

  it('vouches for no other token: a copy with another payload and the same signature is refused', async () => {
    const token = await remembered();
    const { header, payload, signature } = parts(token);
    const reply = await send(
      `Bearer ${forge(header, { ...payload, preferred_username: 'admin@contoso.example' }, signature)}`,
    );
    expect(reply.status).toBe(401);
    expect(reply.body).toEqual({
      errors: [
        {
          message: 'Invalid token signature: request a new token from Entra ID',
          extensions: { code: 'UNAUTHENTICATED', reason: 'bad_signature' },
        },
      ],
    });
    // Nor does it pass with anything after it: the header must hold exactly one token.
    const doubled = await send(`Bearer ${token} ${token}`);
    expect(doubled.status).toBe(400);
    expect(doubled.body).toEqual({
      errors: [
        {
          message: "The Authorization header must hold exactly one credential of the form 'Bearer <access token>'",
          extensions: { code: 'BAD_REQUEST', reason: 'invalid_authorization_header' },
        },
      ],
    });
    expect(await send(`Bearer ${token}`)).toMatchObject({ status: 200, body: GREETING });
  });

  it('still spends its caller’s budget on every request', async () => {
    await api.close();
    api = await createTestServer({ RATE_LIMIT_CALLER_REQUESTS: '3' }, idp);
    const token = await remembered();
    expect((await send(`Bearer ${token}`)).status).toBe(200);
    const over = await send(`Bearer ${token}`);
    expect(over.status).toBe(429);
    expect(over.body).toMatchObject({ errors: [{ extensions: { code: 'RATE_LIMITED', reason: 'caller_requests' } }] });
    expect(await cacheLookups()).toEqual({ hit: 2, miss: 2 });
  });
});
