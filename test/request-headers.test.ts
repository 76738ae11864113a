import { rawRequest } from './helpers/raw-http';
import { createTestServer, type TestServer } from './helpers/server';

const QUERY = JSON.stringify({ query: '{ hello { username } }' });
const HOST_PROBLEM = 'Invalid Host header: send the host name (and port) of this API';
const PROTO_PROBLEM = 'Invalid X-Forwarded-Proto header: send http or https';

let direct: TestServer;
let proxied: TestServer;

beforeAll(async () => {
  direct = await createTestServer();
  proxied = await createTestServer({ TRUST_PROXY: '1' }, direct.idp);
});
afterAll(async () => {
  await proxied.close();
  await direct.close();
});

function post(server: TestServer, headers: readonly string[], target = '/graphql') {
  return rawRequest(server.url, [`POST ${target} HTTP/1.1`, ...headers, 'Content-Type: application/json'], QUERY);
}

const badRequest = (message: string) => ({ errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] });

describe('Host and forwarded headers a client sends', () => {
  it.each(['a b', '[', '%zz', '@', '', 'a/b', 'a?b', 'x@evil.example', '999.999.999.999', '[::g]', 'x:99999'])(
    'answer Host %j with 400, not 500',
    async (host) => {
      const reply = await post(direct, [`Host: ${host}`]);
      expect(reply).toMatchObject({ status: 400, body: badRequest(HOST_PROBLEM) });
      expect(reply.headers).toMatch(/^x-request-id: /m);
    },
  );

  it.each(['api.contoso.example', 'api.contoso.example:8443', '127.0.0.1:4000', '[::1]:4000', 'a_b.internal'])(
    'accept Host %j',
    async (host) => {
      const reply = await post(direct, [`Host: ${host}`]);
      expect(reply.status).toBe(401);
    },
  );

  it('answer a malformed X-Forwarded-Host or -Proto from a trusted proxy with 400', async () => {
    for (const header of ['X-Forwarded-Host: a b', 'X-Forwarded-Host: [', 'X-Forwarded-Host: ok.example, %zz']) {
      expect(await post(proxied, ['Host: api.example', header])).toMatchObject({
        status: 400,
        body: badRequest(HOST_PROBLEM),
      });
    }
    for (const header of ['X-Forwarded-Proto: ht tp', 'X-Forwarded-Proto: javascript', 'X-Forwarded-Proto: ']) {
      const reply = await post(proxied, ['Host: api.example', header]);
      // An empty X-Forwarded-Proto is no header at all: the socket's protocol is used.
      if (header.endsWith(': ')) expect(reply.status).toBe(401);
      else expect(reply).toMatchObject({ status: 400, body: badRequest(PROTO_PROBLEM) });
    }
    const good = await post(proxied, ['Host: internal', 'X-Forwarded-Host: api.example', 'X-Forwarded-Proto: https']);
    expect(good.status).toBe(401);
  });

  it('ignore forwarded headers when no proxy is trusted', async () => {
    const reply = await post(direct, ['Host: api.example', 'X-Forwarded-Host: a b', 'X-Forwarded-Proto: x y']);
    expect(reply.status).toBe(401);
  });

  it('answer a request target that cannot be routed with the API error body', async () => {
    expect(await post(direct, ['Host: api.example'], 'http://[/graphql')).toMatchObject({
      status: 400,
      body: badRequest('Invalid request target'),
    });
  });

  it('keep the server serving after all of them', async () => {
    const reply = await direct.queryWithToken(await direct.idp.mint(), '{ hello { username } }');
    expect(reply).toMatchObject({ status: 200, body: { data: { hello: { username: 'ada@contoso.example' } } } });
  });
});
