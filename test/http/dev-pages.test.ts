import { rawRequest } from '../helpers/raw-http';
import { createTestServer, type TestServer } from '../helpers/server';

// Outside production the IDE pages carry the dev token: a DNS-rebinding page or another origin must not read it.
const DEV_TOKEN = 'dev-token-that-must-stay-on-this-page';

let api: TestServer;
beforeAll(async () => {
  api = await createTestServer({ NODE_ENV: 'development' }, undefined, undefined, { sandboxToken: DEV_TOKEN });
});
afterAll(() => api.close());

const port = () => new URL(api.url).port;
const page = (path: string, headers: string[]) =>
  rawRequest(api.url, [`GET ${path} HTTP/1.1`, 'Accept: text/html', ...headers]);

const REFUSED_HOST = (host: string) => ({
  errors: [
    {
      message: `The IDE is served only on a loopback host name (127.0.0.1, localhost, [::1]), not ${host}`,
      extensions: { code: 'FORBIDDEN' },
    },
  ],
});
const REFUSED_ORIGIN = {
  errors: [
    {
      message: 'The IDE is served only to its own origin: open its URL in the browser',
      extensions: { code: 'FORBIDDEN' },
    },
  ],
};

describe.each(['/altair', '/graphql'])('the IDE page at %s', (path) => {
  it('is served with the token to a loopback host name, typed in the browser or fetched by a tool', async () => {
    for (const host of ['127.0.0.1', 'localhost', '[::1]']) {
      const reply = await page(path, [`Host: ${host}:${port()}`, 'Sec-Fetch-Site: none', 'Sec-Fetch-Mode: navigate']);
      expect(reply.status).toBe(200);
      expect(String(reply.body)).toContain(DEV_TOKEN);
    }
    const tool = await page(path, [`Host: 127.0.0.1:${port()}`]);
    expect(String(tool.body)).toContain(DEV_TOKEN);
  });

  it('is refused under any other host name (DNS rebinding), without the token', async () => {
    const reply = await page(path, [`Host: attacker.example:${port()}`, 'Sec-Fetch-Site: same-origin']);
    expect(reply).toMatchObject({ status: 403, body: REFUSED_HOST('attacker.example') });
    expect(reply.headers).not.toContain(DEV_TOKEN);
  });

  it('is refused to a page of another origin, even another localhost port, with no CORS headers', async () => {
    for (const headers of [
      ['Origin: http://localhost:3000', 'Sec-Fetch-Site: same-site', 'Sec-Fetch-Mode: cors'],
      ['Sec-Fetch-Site: cross-site', 'Sec-Fetch-Mode: no-cors'],
      ['Origin: http://127.0.0.1:1'],
    ]) {
      const reply = await page(path, [`Host: 127.0.0.1:${port()}`, ...headers]);
      expect(reply).toMatchObject({ status: 403, body: REFUSED_ORIGIN });
      expect(reply.headers.toLowerCase()).not.toContain('access-control-allow-origin');
    }
  });

  it('is served to its own origin', async () => {
    const reply = await page(path, [
      `Host: localhost:${port()}`,
      `Origin: http://localhost:${port()}`,
      'Sec-Fetch-Site: same-origin',
    ]);
    expect(reply.status).toBe(200);
  });
});

it('still lets localhost pages call the API itself outside production (a front end in development)', async () => {
  const reply = await api.post(JSON.stringify({ query: '{ hello { username } }' }), {
    origin: 'http://localhost:3000',
    authorization: `Bearer ${await api.idp.mint()}`,
  });
  expect(reply.status).toBe(200);
  expect(reply.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
});
