import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { startOboWorld, type OboWorld } from '../helpers/downstream';
import { createTestServer, type TestServer } from '../helpers/server';
import { realService, REDIS_SERVER, startRedis, type RedisServer } from '../helpers/services';

const QUERY = '{ hello { profile { displayName } } }';
const ANSWER = { data: { hello: { profile: { displayName: 'Ada Lovelace' } } } };
const describeRedis = realService('redis-server', REDIS_SERVER, 'redis-server') ? describe : describe.skip;

const metric = async (api: TestServer, name: string) =>
  String((await api.get('/metrics')).body)
    .split('\n')
    .find((line) => line.startsWith(name))
    ?.split(' ')[1];

describeRedis('the on-behalf-of cache in Redis (REDIS_URL)', () => {
  let world: OboWorld;
  let redis: RedisServer;
  let one: TestServer;
  let two: TestServer;

  beforeAll(async () => {
    world = await startOboWorld();
    redis = await startRedis();
    one = await createTestServer({ ...world.env, REDIS_URL: redis.url }, world.idp);
    two = await createTestServer({ ...world.env, REDIS_URL: redis.url }, world.idp);
  });
  afterAll(async () => {
    await one.close();
    await two.close();
    await redis.stop();
    await world.close();
  });

  it('is shared by every instance: a token acquired by one is a cache hit for the other', async () => {
    const token = await world.idp.mint();
    const before = world.idp.tokenRequests();
    expect((await one.queryWithToken(token, QUERY)).body).toEqual(ANSWER);
    expect(world.idp.tokenRequests() - before).toBe(1);
    expect((await two.queryWithToken(token, QUERY)).body).toEqual(ANSWER);
    expect(world.idp.tokenRequests() - before).toBe(1);
    expect(await metric(two, 'obo_token_requests_total{result="cache_hit"}')).toBe('1');
  });

  it('keeps an entry, under a hash of the incoming token, exactly as long as its token lives', async () => {
    world.idp.tokenEndpoint.setLifetime(900);
    try {
      const token = await world.idp.mint();
      await one.queryWithToken(token, QUERY);
      const client = new Redis(redis.url);
      try {
        const key = `obo:v1:${createHash('sha256').update(token).digest('base64url')}`;
        const [value, ttl] = [await client.get(key), await client.pttl(key)];
        // msal-node's expires_on: its request time (whole seconds) plus the token's expires_in.
        const stored = JSON.parse(value ?? '{}') as { AccessToken: Record<string, { expires_on: string }> };
        const expiresOnMs = Number(Object.values(stored.AccessToken)[0]?.expires_on) * 1000;
        expect(expiresOnMs - Date.now()).toBeGreaterThan(898_000);
        expect(ttl).toBeLessThanOrEqual(expiresOnMs - Date.now() + 50);
        expect(ttl).toBeGreaterThan(expiresOnMs - Date.now() - 1000);
        const keys = await client.keys('obo:*');
        expect(keys.every((name) => /^obo:v1:[\w-]{43}$/.test(name))).toBe(true);
        expect(value).not.toContain(token);
      } finally {
        client.disconnect();
      }
    } finally {
      world.idp.tokenEndpoint.setLifetime(3600);
    }
  });

  it('degrades to acquiring tokens again while Redis is down, never to an error', async () => {
    const token = await world.idp.mint();
    await redis.stop();
    const before = world.idp.tokenRequests();
    expect((await one.queryWithToken(token, QUERY)).body).toEqual(ANSWER);
    expect(world.idp.tokenRequests() - before).toBe(1);
    // The instance's own memory still answers its repeated token.
    expect((await one.queryWithToken(token, QUERY)).body).toEqual(ANSWER);
    expect(world.idp.tokenRequests() - before).toBe(1);
    // The other instance cannot share it: it acquires its own.
    expect((await two.queryWithToken(token, QUERY)).body).toEqual(ANSWER);
    expect(world.idp.tokenRequests() - before).toBe(2);
    expect(Number(await metric(one, 'obo_cache_store_errors_total'))).toBeGreaterThanOrEqual(1);
    expect(one.logs.filter((line) => line['event'] === 'obo_cache_store_unavailable')).toEqual([
      expect.objectContaining({ level: 40, module: 'downstream' }),
    ]);
  });
});
