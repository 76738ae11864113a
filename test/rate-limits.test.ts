import { startIdentityProvider, type IdentityProvider } from '../src/dev/identity-provider';
import { createSigningKey, type SigningKey } from '../src/dev/signing-key';
import { HelloUsernameDocument } from './generated/graphql';
import { createTestServer } from './helpers/server';
import { realService, REDIS_SERVER, startRedis, type RedisServer } from './helpers/services';

let idp: IdentityProvider;
let forger: SigningKey;
beforeAll(async () => {
  idp = await startIdentityProvider();
  // Names the provider's key but is another: its tokens are refused only by the signature check.
  forger = await createSigningKey(idp.currentKey.kid);
});
afterAll(() => idp.close());

const query = JSON.stringify({ query: '{ hello { username } }' });
const withToken = (token: string, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${token}`,
  ...extra,
});

describe('failed authentications per client address', () => {
  it('answers 429 with Retry-After once the budget is spent, even for a valid token, before verifying it', async () => {
    const api = await createTestServer(
      { RATE_LIMIT_AUTH_FAILURES: '3', RATE_LIMIT_AUTH_FAILURES_WINDOW_SECONDS: '60' },
      idp,
    );
    try {
      const bad = await idp.mint({ audience: 'api://another-api' });
      for (let i = 0; i < 3; i += 1) expect((await api.post(query, withToken(bad))).status).toBe(401);
      const refused = await api.post(query, withToken(await idp.mint()));
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(refused.body).toEqual({
        errors: [
          {
            message: `Too many failed authentications from this address: retry after ${refused.headers.get('retry-after')} s`,
            extensions: {
              code: 'RATE_LIMITED',
              reason: 'auth_failures',
              retryAfterSeconds: Number(refused.headers.get('retry-after')),
            },
          },
        ],
      });
      expect(api.logs.filter((line) => line['event'] === 'rate_limited')).toHaveLength(1);
    } finally {
      await api.close();
    }
  });

  it('counts addresses from X-Forwarded-For only when TRUST_PROXY says so', async () => {
    const bad = await idp.mint({ audience: 'api://another-api' });
    const trusting = await createTestServer({ RATE_LIMIT_AUTH_FAILURES: '2', TRUST_PROXY: '1' }, idp);
    try {
      for (let i = 0; i < 2; i += 1) await trusting.post(query, withToken(bad, { 'x-forwarded-for': '203.0.113.7' }));
      expect((await trusting.post(query, withToken(bad, { 'x-forwarded-for': '203.0.113.7' }))).status).toBe(429);
      expect((await trusting.post(query, withToken(bad, { 'x-forwarded-for': '203.0.113.8' }))).status).toBe(401);
      expect(trusting.logs.find((line) => line['event'] === 'rate_limited')).toMatchObject({
        clientAddress: '203.0.113.7',
      });
    } finally {
      await trusting.close();
    }
    const direct = await createTestServer({ RATE_LIMIT_AUTH_FAILURES: '2' }, idp);
    try {
      for (let i = 0; i < 2; i += 1) await direct.post(query, withToken(bad, { 'x-forwarded-for': `198.51.100.${i}` }));
      expect((await direct.post(query, withToken(bad, { 'x-forwarded-for': '198.51.100.99' }))).status).toBe(429);
    } finally {
      await direct.close();
    }
  });
});

type Server = Awaited<ReturnType<typeof createTestServer>>;
const signatureChecksFailed = (server: Server) =>
  server.logs.filter((line) => line['event'] === 'auth_failed' && line['reason'] === 'bad_signature').length;
const forged = (count: number) => Promise.all(Array.from({ length: count }, () => idp.mint({ key: forger })));

describe('address budgets an attacker cannot multiply or drain', () => {
  it('spends the budget atomically: of 500 concurrent forged tokens at most the budget reach a signature check', async () => {
    const api = await createTestServer({ RATE_LIMIT_AUTH_FAILURES: '20', LOG_LEVEL: 'warn' }, idp);
    try {
      const tokens = await forged(500);
      const statuses = await Promise.all(tokens.map(async (token) => (await api.post(query, withToken(token))).status));
      expect(statuses.filter((status) => status === 401)).toHaveLength(20);
      expect(statuses.filter((status) => status === 429)).toHaveLength(480);
      expect(signatureChecksFailed(api)).toBe(20);
    } finally {
      await api.close();
    }
  });

  it('lets a caller whose token is already verified through after neighbours on its address spent the budget', async () => {
    const api = await createTestServer({ RATE_LIMIT_AUTH_FAILURES: '20' }, idp);
    try {
      const known = await idp.mint();
      // Verified twice, the token is remembered (a token enters the cache on its second verification).
      for (let i = 0; i < 2; i += 1) expect((await api.post(query, withToken(known))).status).toBe(200);
      for (const token of await forged(20)) expect((await api.post(query, withToken(token))).status).toBe(401);
      expect((await api.post(query, withToken(await idp.mint()))).status).toBe(429);
      const reply = await api.post(query, withToken(known));
      expect(reply).toMatchObject({ status: 200, body: { data: { hello: { username: 'ada@contoso.example' } } } });
    } finally {
      await api.close();
    }
  });

  it('does not count a client retrying with its own expired token, or another scheme, as guessing', async () => {
    const api = await createTestServer({ RATE_LIMIT_AUTH_FAILURES: '3' }, idp);
    try {
      const expired = await idp.mint({ issuedAt: Math.floor(Date.now() / 1000) - 7200, expiresInSeconds: 600 });
      for (let i = 0; i < 10; i += 1) {
        const reply = await api.post(query, withToken(expired));
        expect(reply.body).toMatchObject({ errors: [{ extensions: { reason: 'expired' } }] });
        expect((await api.post(query, { authorization: 'Basic dXNlcjpwYXNz' })).status).toBe(401);
      }
      expect((await api.post(query, withToken(await idp.mint()))).status).toBe(200);
      // A hostile header, on the other hand, counts: a header whose alg is an object is a 401 that spends the budget.
      const hostile = `${Buffer.from('{"alg":{"toString":0},"kid":"x"}').toString('base64url')}.e30.c2ln`;
      for (let i = 0; i < 3; i += 1) expect((await api.post(query, withToken(hostile))).status).toBe(401);
      expect((await api.post(query, withToken(await idp.mint()))).status).toBe(429);
    } finally {
      await api.close();
    }
  });

  it('budgets IPv6 clients per /64, an IPv4-mapped address as its IPv4 address, and ignores X-Forwarded-For junk', async () => {
    const api = await createTestServer({ RATE_LIMIT_AUTH_FAILURES: '2', TRUST_PROXY: '1' }, idp);
    try {
      const bad = await idp.mint({ audience: 'api://another-api' });
      const from = (address: string) => api.post(query, withToken(bad, { 'x-forwarded-for': address }));
      expect((await from('2001:db8:1:2::1')).status).toBe(401);
      expect((await from('2001:DB8:1:2:ffff::9')).status).toBe(401);
      expect((await from('2001:db8:1:2:abcd::77')).status).toBe(429);
      expect((await from('2001:db8:1:3::1')).status).toBe(401);
      expect((await from('203.0.113.5')).status).toBe(401);
      expect((await from('::ffff:203.0.113.5')).status).toBe(401);
      expect((await from('203.0.113.5:40000')).status).toBe(429);
      // Text that is no address does not pick a new budget: the request counts against the proxy's own address.
      for (const junk of ['junk-1', 'junk-2']) expect((await from(junk)).status).toBe(401);
      expect((await from('junk-3')).status).toBe(429);
      expect(api.logs.filter((line) => line['event'] === 'rate_limited').map((line) => line['clientAddress'])).toEqual([
        '2001:db8:1:2:abcd::77',
        '203.0.113.5',
        '127.0.0.1',
      ]);
    } finally {
      await api.close();
    }
  });
});

describe('requests per verified caller', () => {
  it('answers 429 once a caller spends its budget, while other callers go on', async () => {
    const api = await createTestServer(
      { RATE_LIMIT_CALLER_REQUESTS: '3', RATE_LIMIT_CALLER_WINDOW_SECONDS: '60' },
      idp,
    );
    try {
      const ada = await idp.mint();
      for (let i = 0; i < 3; i += 1) expect((await api.queryWithToken(ada, HelloUsernameDocument)).status).toBe(200);
      const over = await api.queryWithToken(ada, HelloUsernameDocument);
      expect(over.status).toBe(429);
      expect(over.body).toEqual({
        errors: [
          {
            message: `Too many requests: retry after ${over.headers.get('retry-after')} s`,
            extensions: {
              code: 'RATE_LIMITED',
              reason: 'caller_requests',
              retryAfterSeconds: Number(over.headers.get('retry-after')),
            },
          },
        ],
      });
      const other = await idp.mint({ claims: { oid: '0a0b0c0d-0e0f-4a1b-8c2d-3e4f5a6b7c8d' } });
      expect((await api.queryWithToken(other, HelloUsernameDocument)).status).toBe(200);
      const app = await idp.mint({ kind: 'app' });
      expect((await api.queryWithToken(app, HelloUsernameDocument)).status).toBe(200);
    } finally {
      await api.close();
    }
  });
});

const describeRedis = realService('redis-server', REDIS_SERVER, 'redis-server') ? describe : describe.skip;

describeRedis('budgets shared through Redis', () => {
  let redis: RedisServer;
  beforeEach(async () => {
    redis = await startRedis();
  });
  afterEach(() => redis.stop());

  it('lets two instances share one caller budget', async () => {
    const env = { REDIS_URL: redis.url, RATE_LIMIT_CALLER_REQUESTS: '4' };
    const [a, b] = await Promise.all([createTestServer(env, idp), createTestServer(env, idp)]);
    try {
      const token = await idp.mint();
      const statuses = [];
      for (const server of [a, b, a, b, a, b])
        statuses.push((await server.queryWithToken(token, HelloUsernameDocument)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('lets two instances share the failed-authentication budget of an address', async () => {
    const env = { REDIS_URL: redis.url, RATE_LIMIT_AUTH_FAILURES: '2' };
    const [a, b] = await Promise.all([createTestServer(env, idp), createTestServer(env, idp)]);
    try {
      const bad = await idp.mint({ audience: 'api://another-api' });
      expect((await a.post(query, withToken(bad))).status).toBe(401);
      expect((await b.post(query, withToken(bad))).status).toBe(401);
      expect((await a.post(query, withToken(bad))).status).toBe(429);
      expect((await b.post(query, withToken(bad))).status).toBe(429);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('spends the shared budget atomically across instances: at most the budget of forged tokens is verified', async () => {
    const env = { REDIS_URL: redis.url, RATE_LIMIT_AUTH_FAILURES: '20', LOG_LEVEL: 'warn' };
    const [a, b] = await Promise.all([createTestServer(env, idp), createTestServer(env, idp)]);
    try {
      const tokens = await forged(300);
      const statuses = await Promise.all(
        tokens.map(async (token, i) => (await (i % 2 ? a : b).post(query, withToken(token))).status),
      );
      expect(statuses.filter((status) => status === 401)).toHaveLength(20);
      expect(statuses.filter((status) => status === 429)).toHaveLength(280);
      expect(signatureChecksFailed(a) + signatureChecksFailed(b)).toBe(20);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('falls back to per-instance memory when Redis goes away, logs it, and never refuses everyone', async () => {
    const api = await createTestServer({ REDIS_URL: redis.url, RATE_LIMIT_CALLER_REQUESTS: '3' }, idp);
    try {
      const token = await idp.mint();
      expect((await api.queryWithToken(token, HelloUsernameDocument)).status).toBe(200);
      await redis.stop();
      const statuses = [];
      for (let i = 0; i < 4; i += 1) statuses.push((await api.queryWithToken(token, HelloUsernameDocument)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      expect(api.logs.find((line) => line['event'] === 'rate_limit_store_unavailable')).toMatchObject({
        level: 50,
        msg: 'Redis is unreachable: rate limits fall back to per-instance memory',
      });
    } finally {
      await api.close();
    }
  });
});
