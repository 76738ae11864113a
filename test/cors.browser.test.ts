import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { startIdentityProvider, type IdentityProvider } from '../src/dev/identity-provider';
import { createTestServer, type TestServer } from './helpers/server';
import { CHROMIUM, realService } from './helpers/services';

const describeBrowser = realService('Chromium', CHROMIUM, 'chromium') ? describe : describe.skip;

/** A page server on its own loopback origin, standing for a web app that calls the API. */
async function pageOrigin(host: string, hostname: string): Promise<{ origin: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>client</title><p>client app</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { origin: `http://${hostname}:${(server.address() as AddressInfo).port}`, server };
}

describeBrowser('CORS in a real browser', () => {
  let idp: IdentityProvider;
  let api: TestServer;
  let browser: Browser;
  let allowed: { origin: string; server: Server };
  let foreign: { origin: string; server: Server };

  beforeAll(async () => {
    allowed = await pageOrigin('127.0.0.1', 'localhost');
    foreign = await pageOrigin('127.0.0.2', '127.0.0.2');
    idp = await startIdentityProvider();
    api = await createTestServer({ NODE_ENV: 'production', CORS_ORIGINS: allowed.origin }, idp);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 60000);

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await idp?.close();
    allowed?.server.close();
    foreign?.server.close();
  });

  async function callFrom(origin: string, token: string): Promise<unknown> {
    const page = await browser.newPage();
    try {
      await page.goto(`${origin}/`);
      return await page.evaluate(
        async ({ url, token: bearer }) => {
          try {
            const response = await fetch(url, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
              body: JSON.stringify({ query: '{ hello { username } }' }),
            });
            return {
              status: response.status,
              body: await response.json(),
              requestId: response.headers.get('x-request-id'),
            };
          } catch (error) {
            return { blocked: String(error) };
          }
        },
        { url: `${api.url}/graphql`, token },
      );
    } finally {
      await page.close();
    }
  }

  it('lets a page on an allowed origin call hello with a token', async () => {
    const result = await callFrom(allowed.origin, await idp.mint());
    expect(result).toEqual({
      status: 200,
      body: { data: { hello: { username: 'ada@contoso.example' } } },
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
  });

  it('blocks a page on a foreign origin', async () => {
    const result = await callFrom(foreign.origin, await idp.mint());
    expect(result).toEqual({ blocked: 'TypeError: Failed to fetch' });
  });

  it('answers the preflight for Authorization and Content-Type for allowed origins only', async () => {
    const preflight = (origin: string) =>
      fetch(`${api.url}/graphql`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });
    const ok = await preflight(allowed.origin);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(allowed.origin);
    expect(ok.headers.get('access-control-allow-headers')).toBe(
      'authorization, content-type, apollo-require-preflight, x-apollo-operation-name, x-request-id',
    );
    expect(ok.headers.get('access-control-allow-methods')).toBe('GET, POST');
    expect(ok.headers.get('access-control-max-age')).toBe('600');
    const refused = await preflight(foreign.origin);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  });
});
