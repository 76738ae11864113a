import { startIdentityProvider, type IdentityProvider } from '../src/dev/identity-provider';
import { HelloUsernameDocument } from './generated/graphql';
import { createTestServer } from './helpers/server';
import { realService, REDIS_SERVER, startRedis, type RedisServer } from './helpers/services';

let idp: IdentityProvider;
beforeAll(async () => {
  idp = await startIdentityProvider();
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
            extensions: { code: 'RATE_LIMITED', reason: 'auth_failures' },
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
            extensions: { code: 'RATE_LIMITED', reason: 'caller_requests' },
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
