import { randomUUID } from 'node:crypto';
import { startIdentityProvider, type IdentityProvider } from '../src/dev/identity-provider';
import { createSigningKey, type SigningKey } from '../src/dev/signing-key';
import { HelloUsernameDocument } from './generated/graphql';
import { createTestServer } from './helpers/server';
import { Redis } from 'ioredis';
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
  it('bounds the signature checks of 500 concurrent forged tokens by the budget plus the slots in flight', async () => {
    const api = await createTestServer({ RATE_LIMIT_AUTH_FAILURES: '20', LOG_LEVEL: 'warn' }, idp);
    try {
      const tokens = await forged(500);
      const statuses = await Promise.all(tokens.map(async (token) => (await api.post(query, withToken(token))).status));
      const refused = statuses.filter((status) => status === 401).length;
      // RATE_LIMIT_VERIFICATIONS_IN_FLIGHT (16) at once: the failures of each are counted before the next starts.
      expect(refused).toBeGreaterThanOrEqual(20);
      expect(refused).toBeLessThanOrEqual(20 + 16 - 1);
      expect(statuses.filter((status) => status === 429)).toHaveLength(500 - refused);
      expect(signatureChecksFailed(api)).toBe(refused);
    } finally {
      await api.close();
    }
  });

  it('answers hundreds of concurrent new valid tokens from one address with 200, with the default settings', async () => {
    // A gateway, a BFF or a corporate NAT on Monday morning: many users, every token new to the server.
    const api = await createTestServer({ LOG_LEVEL: 'warn' }, idp);
    try {
      const tokens = await Promise.all(Array.from({ length: 400 }, () => idp.mint({ claims: { oid: randomUUID() } })));
      const statuses = await Promise.all(tokens.map(async (token) => (await api.post(query, withToken(token))).status));
      expect(statuses.filter((status) => status !== 200)).toEqual([]);
      expect(api.logs.filter((line) => line['event'] === 'rate_limited')).toEqual([]);
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

  it('bounds the signature checks of forged tokens across instances by the budget plus the slots of each', async () => {
    const env = { REDIS_URL: redis.url, RATE_LIMIT_AUTH_FAILURES: '20', LOG_LEVEL: 'warn' };
    const [a, b] = await Promise.all([createTestServer(env, idp), createTestServer(env, idp)]);
    try {
      const tokens = await forged(300);
      const statuses = await Promise.all(
        tokens.map(async (token, i) => (await (i % 2 ? a : b).post(query, withToken(token))).status),
      );
      const refused = statuses.filter((status) => status === 401).length;
      expect(refused).toBeGreaterThanOrEqual(20);
      expect(refused).toBeLessThanOrEqual(20 + 2 * 16 - 1);
      expect(statuses.filter((status) => status === 429)).toHaveLength(300 - refused);
      expect(signatureChecksFailed(a) + signatureChecksFailed(b)).toBe(refused);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('answers hundreds of concurrent new valid tokens from one address with 200, in two Redis-sharing instances', async () => {
    const env = { REDIS_URL: redis.url, LOG_LEVEL: 'warn' };
    const [a, b] = await Promise.all([createTestServer(env, idp), createTestServer(env, idp)]);
    const stats = new Redis(redis.url);
    try {
      const tokens = await Promise.all(Array.from({ length: 400 }, () => idp.mint({ claims: { oid: randomUUID() } })));
      const before = await roundTrips(stats);
      const statuses = await Promise.all(
        tokens.map(async (token, i) => (await (i % 2 ? a : b).post(query, withToken(token))).status),
      );
      expect(statuses.filter((status) => status !== 200)).toEqual([]);
      // One read of the address's failures and one request of the caller's budget: two round trips per new token
      // (three before: a slot taken, given back, and the caller's request).
      expect((await roundTrips(stats)) - before).toBeLessThanOrEqual(2 * 400);
    } finally {
      stats.disconnect();
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

/**
 * Round trips the rate limits made to Redis: each is one script (EVALSHA) or one transaction (EXEC), whatever
 * commands the transaction holds.
 */
async function roundTrips(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let total = 0;
  for (const name of ['evalsha', 'eval', 'exec']) {
    const match = new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(info);
    total += match ? Number(match[1]) : 0;
  }
  return total;
}
