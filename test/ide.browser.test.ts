import { chromium, type Browser } from 'playwright-core';
import { startIdentityProvider, type IdentityProvider } from '../src/dev/identity-provider';
import { createTestServer, type TestServer } from './helpers/server';
import { CHROMIUM, realService } from './helpers/services';

const describeBrowser = realService('Chromium', CHROMIUM, 'chromium') ? describe : describe.skip;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

describeBrowser('the offline GraphQL IDE of dev mode, in a real browser with no internet', () => {
  let idp: IdentityProvider;
  let dev: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    idp = await startIdentityProvider();
    const token = await idp.mint();
    dev = await createTestServer({ NODE_ENV: 'development' }, idp, undefined, { sandboxToken: token });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
    });
  }, 60000);

  afterAll(async () => {
    await browser?.close();
    await dev?.close();
    await idp?.close();
  });

  it('loads the schema and runs hello with the dev token, every non-loopback request blocked', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.route('**/*', (route) =>
      LOOPBACK.has(new URL(route.request().url()).hostname) ? route.continue() : route.abort('internetdisconnected'),
    );
    const page = await context.newPage();
    try {
      const introspection = page.waitForResponse(
        (response) => response.url().endsWith('/graphql') && (response.request().postData() ?? '').includes('__schema'),
      );
      await page.goto(`${dev.url}/altair`);
      expect((await introspection).status()).toBe(200);
      await page.getByRole('button', { name: 'Send Request' }).click();
      const result = page.locator('app-query-result');
      await result.getByText('"username": "ada@contoso.example"').waitFor({ timeout: 15000 });
      const text = await result.innerText();
      expect(text).toContain('200 OK');
      expect(text).toContain('"employeeId": "E-1815"');
      expect(text).toContain('"access_as_user"');
    } finally {
      await context.close();
    }
  }, 60000);
});
