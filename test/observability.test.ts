import { startIdentityProvider, type IdentityProvider } from '../src/dev/identity-provider';
import { HelloUsernameDocument } from './generated/graphql';
import { createTestServer, type TestServer } from './helpers/server';

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

const post = (headers: Record<string, string>) =>
  fetch(`${api.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: '{ hello { username } }' }),
  });

describe('request log', () => {
  it('writes one line per request with the caller’s request id, status and duration, and returns the id', async () => {
    const response = await post({ authorization: `Bearer ${await idp.mint()}`, 'x-request-id': 'trace-123' });
    expect(response.headers.get('x-request-id')).toBe('trace-123');
    const lines = api.logs.filter((line) => line['msg'] === 'request completed' && line['requestId'] === 'trace-123');
    expect(lines).toEqual([
      {
        level: 30,
        time: expect.any(Number),
        service: 'entra-graphql-api',
        pid: process.pid,
        requestId: 'trace-123',
        method: 'POST',
        path: '/graphql',
        clientAddress: '127.0.0.1',
        status: 200,
        durationMs: expect.any(Number),
        msg: 'request completed',
      },
    ]);
  });

  it('logs the path of a GET without its query string, which carries the operation and its variables', async () => {
    const query = encodeURIComponent('{ hello { username } }');
    const variables = encodeURIComponent(JSON.stringify({ note: 'private-note-42' }));
    const response = await fetch(`${api.url}/graphql?query=${query}&variables=${variables}`, {
      headers: { 'x-request-id': 'get-456', 'apollo-require-preflight': 'true' },
    });
    expect(response.status).toBe(401);
    const lines = api.logs.filter((line) => line['msg'] === 'request completed' && line['requestId'] === 'get-456');
    expect(lines).toMatchObject([{ method: 'GET', path: '/graphql', status: 401 }]);
    expect(api.rawLogs()).not.toContain('private-note-42');
  });

  it('replaces a request id that could forge log content with a fresh one', async () => {
    const response = await post({ 'x-request-id': 'evil "id" {"level":60}' });
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('never writes the token or the Authorization header', async () => {
    const token = await idp.mint({ audience: 'api://another-api' });
    await post({ authorization: `Bearer ${token}` });
    const raw = api.rawLogs();
    for (const part of token.split('.')) expect(raw).not.toContain(part);
    expect(raw.toLowerCase()).not.toContain('"authorization"');
  });
});

describe('security log', () => {
  it('writes the reason, client address and the verified tenant and app of a refused token', async () => {
    const token = await idp.mint({ audience: 'api://another-api' });
    const response = await post({ authorization: `Bearer ${token}`, 'x-request-id': 'aud-1' });
    expect(response.status).toBe(401);
    expect(api.logs.find((line) => line['event'] === 'auth_failed' && line['requestId'] === 'aud-1')).toEqual({
      level: 40,
      time: expect.any(Number),
      service: 'entra-graphql-api',
      pid: process.pid,
      event: 'auth_failed',
      reason: 'wrong_audience',
      status: 401,
      requestId: 'aud-1',
      clientAddress: '127.0.0.1',
      tenantId: idp.tenantId,
      appId: 'c9d8e7f6-1a2b-4c3d-9e8f-0a1b2c3d4e5f',
      msg: 'Authentication failed',
    });
  });

  it('writes a permission refusal without personal claims', async () => {
    await post({ authorization: `Bearer ${await idp.mint({ scopes: 'Files.Read' })}`, 'x-request-id': 'scope-1' });
    const line = api.logs.find(
      (entry) => entry['event'] === 'authorization_failed' && entry['requestId'] === 'scope-1',
    );
    expect(line).toMatchObject({
      level: 40,
      reason: 'insufficient_scope',
      clientAddress: '127.0.0.1',
      path: 'hello',
      kind: 'user',
      tenantId: idp.tenantId,
      objectId: '3f1e2d4c-5b6a-4789-8a0b-1c2d3e4f5a6b',
      msg: 'Permission denied',
    });
    expect(api.rawLogs()).not.toContain('ada@contoso.example');
    expect(api.rawLogs()).not.toContain('Ada Lovelace');
  });

  it('writes usernames only when LOG_PII=true', async () => {
    const pii = await createTestServer({ LOG_PII: 'true' }, idp);
    try {
      await pii.queryWithToken(await idp.mint({ scopes: 'Files.Read' }), HelloUsernameDocument);
      expect(pii.logs.find((entry) => entry['event'] === 'authorization_failed')).toMatchObject({
        username: 'ada@contoso.example',
        name: 'Ada Lovelace',
      });
    } finally {
      await pii.close();
    }
  });

  it('logs a missing token where a caller is needed', async () => {
    await post({ 'x-request-id': 'anon-1' });
    expect(api.logs.find((entry) => entry['event'] === 'auth_failed' && entry['requestId'] === 'anon-1')).toMatchObject(
      {
        reason: 'missing_token',
        msg: 'Authentication required',
      },
    );
  });
});

describe('GET /metrics', () => {
  it('exposes request durations, auth failures, key fetches, key age and rate-limited requests', async () => {
    const fresh = await createTestServer({ RATE_LIMIT_CALLER_REQUESTS: '1' }, idp);
    try {
      const token = await idp.mint();
      // Verified twice (the cache admits a token on its second sighting), then answered from the cache.
      for (let i = 0; i < 3; i += 1) await fresh.queryWithToken(token, HelloUsernameDocument);
      await fresh.queryWithToken(await idp.mint({ issuedAt: 1_000_000, expiresInSeconds: 60 }), HelloUsernameDocument);
      const response = await fetch(`${fresh.url}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = await response.text();
      expect(text).toMatch(/^http_request_duration_seconds_count\{status="200"\} 1$/m);
      expect(text).toMatch(/^http_request_duration_seconds_count\{status="429"\} 2$/m);
      expect(text).toMatch(/^http_request_duration_seconds_count\{status="401"\} 1$/m);
      expect(text).toMatch(/^auth_failures_total\{reason="expired"\} 1$/m);
      expect(text).toMatch(/^signing_key_fetches_total\{source="v2\.0",result="success"\} 1$/m);
      expect(text).toMatch(/^signing_key_fetches_total\{source="v1\.0",result="success"\} 1$/m);
      expect(text).toMatch(/^signing_key_age_seconds \d+(\.\d+)?$/m);
      expect(text).toMatch(/^rate_limited_requests_total\{limiter="caller_requests"\} 2$/m);
      expect(text).toMatch(/^process_resident_memory_bytes \d+$/m);
      expect(text).toMatch(/^token_cache_lookups_total\{result="hit"\} 1$/m);
      expect(text).toMatch(/^token_cache_lookups_total\{result="miss"\} 3$/m);
      expect(text).toMatch(/^token_cache_hit_ratio 0\.25$/m);
      expect(text).toMatch(/^token_cache_entries 1$/m);
    } finally {
      await fresh.close();
    }
  });

  it('counts failed key fetches and reports the age as NaN while keys were never obtained', async () => {
    const down = await startIdentityProvider();
    down.setAvailable(false);
    const api2 = await createTestServer({}, down);
    try {
      const text = await (await fetch(`${api2.url}/metrics`)).text();
      expect(text).toMatch(/^signing_key_fetches_total\{source="v2\.0",result="failure"\} 1$/m);
      // prom-client writes NaN as "Nan", which Prometheus parses case-insensitively.
      expect(text).toMatch(/^signing_key_age_seconds NaN$/im);
    } finally {
      await api2.close();
      await down.close();
    }
  });
});
