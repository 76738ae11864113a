import { chromium, type Browser } from 'playwright-core';
import { launchDev, requireBuild, type DevLaunch, until } from './helpers/process';
import { CHROMIUM, freePort, realService } from './helpers/services';

const describeBrowser = realService('Chromium', CHROMIUM, 'chromium') ? describe : describe.skip;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

describeBrowser('the offline GraphQL IDE of npm run dev, in a real browser with no internet', () => {
  let dev: DevLaunch;
  let ide: string;
  let browser: Browser;

  beforeAll(async () => {
    requireBuild();
    // The launcher as `npm run dev` starts it: its own identity provider, key and token; the IDE URL from its banner.
    dev = launchDev({ PORT: String(await freePort()), DEV_IDP_PORT: String(await freePort()) });
    const banner = await dev.ready;
    if (!banner.ide) throw new Error(`npm run dev did not start: ${banner.stderr}`);
    ide = banner.ide;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
    });
  }, 60000);

  afterAll(async () => {
    await browser?.close();
    if (dev && dev.child.exitCode === null) {
      const exited = new Promise((done) => dev.child.once('exit', done));
      dev.child.kill('SIGINT');
      await exited;
    }
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
      expect(new URL(ide).pathname).toBe('/altair');
      await page.goto(ide);
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

  it("answers the caller's Microsoft Graph profile, through the on-behalf-of flow against the local stand-ins", async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.route('**/*', (route) =>
      LOOPBACK.has(new URL(route.request().url()).hostname) ? route.continue() : route.abort('internetdisconnected'),
    );
    const page = await context.newPage();
    try {
      await page.goto(ide);
      await page.locator('app-query-editor .cm-content').click();
      await page.keyboard.press('ControlOrMeta+A');
      await page.keyboard.insertText('{ hello { username profile { displayName jobTitle } } }');
      await page.getByRole('button', { name: 'Send Request' }).click();
      const result = page.locator('app-query-result');
      await result.getByText('"displayName": "Ada Lovelace"').waitFor({ timeout: 15000 });
      const text = await result.innerText();
      expect(text).toContain('200 OK');
      expect(text).toContain('"jobTitle": "Analyst"');
      expect(text).not.toContain('"errors"');
    } finally {
      await context.close();
    }
  }, 60000);

  it('runs the greetings subscription over a WebSocket with the dev token in connection_init', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.route('**/*', (route) =>
      LOOPBACK.has(new URL(route.request().url()).hostname) ? route.continue() : route.abort('internetdisconnected'),
    );
    const page = await context.newPage();
    const received: string[] = [];
    page.on('websocket', (socket) => socket.on('framereceived', (frame) => received.push(String(frame.payload))));
    try {
      await page.goto(ide);
      await page.locator('app-query-editor .cm-content').click();
      await page.keyboard.press('ControlOrMeta+A');
      await page.keyboard.insertText(
        'subscription { greetings(everySeconds: 1) { tokenExpiresInSeconds user { username } } }',
      );
      await page.getByRole('button', { name: 'Send Request' }).click();
      const result = page.locator('app-query-result');
      await result.getByText('"username": "ada@contoso.example"').first().waitFor({ timeout: 15000 });
      await until(() => received.filter((frame) => frame.includes('"greetings"')).length >= 2);
      expect(received[0]).toBe('{"type":"connection_ack"}');
      expect(await result.innerText()).toMatch(/"tokenExpiresInSeconds": 43\d{3}/);
    } finally {
      await context.close();
    }
  }, 60000);
});
