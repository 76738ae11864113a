import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateDevKey, recordIdentityProvider } from '../../src/dev/dev-key';
import { DEV_CLIENT_ID, DEV_TENANT_ID, startIdentityProvider } from '../../src/dev/identity-provider';
import { parts } from '../helpers/forge';
import { baseEnv, dist, launchDev, requireBuild, until } from '../helpers/process';
import { createTestServer } from '../helpers/server';
import { freePort } from '../helpers/services';

beforeAll(requireBuild);

function run(file: string, args: string[], env: Record<string, string>, cwd: string) {
  return spawnSync(process.execPath, [dist(file), ...args], {
    env: { ...baseEnv, ...env },
    cwd,
    encoding: 'utf8',
    timeout: 15000,
  });
}

const scratch = () => mkdtempSync(join(tmpdir(), 'dev-tools-'));

describe('npm run token', () => {
  it('finds the running identity provider through .dev/ without DEV_IDP_PORT, and mints 12-hour tokens', async () => {
    const cwd = scratch();
    const idp = await startIdentityProvider({ signingKey: await loadOrCreateDevKey(join(cwd, '.dev')) });
    recordIdentityProvider(idp.url, join(cwd, '.dev'));
    const api = await createTestServer({ AZURE_TENANT_ID: DEV_TENANT_ID, AZURE_CLIENT_ID: DEV_CLIENT_ID }, idp);
    try {
      const started = Date.now();
      const result = run('dev/token-cli.js', [], {}, cwd);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(result.status).toBe(0);
      const token = result.stdout.trim();
      const { payload } = parts(token);
      expect((payload['exp'] as number) - (payload['iat'] as number)).toBe(12 * 3600);
      expect(payload['iss']).toBe(`${idp.url}/${DEV_TENANT_ID}/v2.0`);
      expect((await api.queryWithToken(token, '{ hello { username } }')).status).toBe(200);

      const short = parts(run('dev/token-cli.js', ['--lifetime', '60'], {}, cwd).stdout.trim()).payload;
      expect((short['exp'] as number) - (short['iat'] as number)).toBe(60);
      const expired = run('dev/token-cli.js', ['--expired'], {}, cwd).stdout.trim();
      expect(await api.queryWithToken(expired, '{ hello { username } }')).toMatchObject({
        status: 401,
        body: { errors: [{ extensions: { reason: 'expired' } }] },
      });
    } finally {
      await api.close();
      await idp.close();
    }
  });

  it.each([
    [
      ['--expires-in', '-600'],
      'npm run token: --expires-in takes a whole number of seconds; for an expired token use --expired (see --help)',
    ],
    [['--lifetime=-600'], "npm run token: --lifetime takes a whole number of seconds, got '-600' (see --help)"],
    [['--lifetime', 'abc'], "npm run token: --lifetime takes a whole number of seconds, got 'abc' (see --help)"],
    [['--colour'], "npm run token: Unknown option '--colour' (see --help)"],
    [['--claim', 'oops'], "npm run token: --claim takes name=value, got 'oops' (see --help)"],
  ])('answers %j with one line and exit code 2', (args, line) => {
    const result = run('dev/token-cli.js', args, {}, scratch());
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(`${line}\n`);
    expect(result.stdout).toBe('');
  });

  it('answers DEV_IDP_PORT=abc with one line and exit code 2', () => {
    const result = run('dev/token-cli.js', [], { DEV_IDP_PORT: 'abc' }, scratch());
    expect(result).toMatchObject({
      status: 2,
      stderr: 'npm run token: DEV_IDP_PORT must be a whole number from 0 to 65535 (see --help)\n',
    });
  });
});

describe('npm run dev', () => {
  it.each([
    [{ PORT: 'abc' }, 'npm run dev: PORT must be a whole number from 0 to 65535\n'],
    [{ DEV_IDP_PORT: 'abc' }, 'npm run dev: DEV_IDP_PORT must be a whole number from 0 to 65535\n'],
    [
      { CORS_ORIGINS: '' },
      'npm run dev: CORS_ORIGINS holds an empty item: list values separated by commas or spaces, or leave it unset\n',
    ],
  ])('answers %j with one line and exit code 1', async (env, line) => {
    const { ready } = launchDev({ DEV_IDP_PORT: String(await freePort()), ...env });
    expect(await ready).toEqual({ code: 1, stderr: line });
  });

  it('says which port is in use, for the API and for the identity provider', async () => {
    const taken: Server = createServer();
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
    const port = String((taken.address() as { port: number }).port);
    try {
      const api = launchDev({ PORT: port, DEV_IDP_PORT: String(await freePort()) });
      expect(await api.ready).toEqual({
        code: 1,
        stderr: `npm run dev: port ${port} (PORT) is in use: stop what uses it or choose another\n`,
      });
      const idp = launchDev({ PORT: String(await freePort()), DEV_IDP_PORT: port });
      expect(await idp.ready).toEqual({
        code: 1,
        stderr: `npm run dev: the identity provider's port ${port} (DEV_IDP_PORT) is in use: stop what uses it or choose another\n`,
      });
    } finally {
      taken.close();
    }
  });

  it('leaves .dev/ to the running dev server when a second one fails on its API port', async () => {
    const cwd = scratch();
    const port = String(await freePort());
    const first = launchDev({ PORT: port, DEV_IDP_PORT: String(await freePort()) }, cwd);
    try {
      await first.ready;
      const recorded = readFileSync(join(cwd, '.dev', 'identity-provider.json'), 'utf8');
      const second = launchDev({ PORT: port, DEV_IDP_PORT: String(await freePort()) }, cwd);
      expect(await second.ready).toMatchObject({ code: 1 });
      expect(readFileSync(join(cwd, '.dev', 'identity-provider.json'), 'utf8')).toBe(recorded);
      // So npm run token still signs for the provider of the server that runs.
      const token = run('dev/token-cli.js', [], {}, cwd).stdout.trim();
      const reply = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: '{ hello { username } }' }),
      });
      expect(reply.status).toBe(200);
    } finally {
      first.child.kill('SIGTERM');
    }
  });

  it('logs one readable line per request, none per IDE file, and its warnings before the banner', async () => {
    const { child, ready, output } = launchDev({
      PORT: String(await freePort()),
      DEV_IDP_PORT: String(await freePort()),
      AZURE_TENANT_ID: '11111111-2222-4333-8444-555555555555',
    });
    try {
      const { url, ide, token } = await ready;
      expect(output().indexOf('AZURE_TENANT_ID is ignored')).toBeGreaterThan(-1);
      expect(output().indexOf('AZURE_TENANT_ID is ignored')).toBeLessThan(output().indexOf('GraphQL API:'));
      await fetch(url as string, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: '{ hello { username } }' }),
      });
      const page = await (await fetch(ide as string)).text();
      const assets = [...page.matchAll(/src="([^"]+\.js)"/g)].map((match) => new URL(match[1]!, `${ide}/`).href);
      expect(assets.length).toBeGreaterThan(0);
      for (const asset of assets) expect((await fetch(asset)).status).toBe(200);
      await until(() => /POST \/graphql 200 [\d.]+ ms/.test(output()));
      await until(() => / GET \/altair 200 /.test(output()));
      const requestLines = output()
        .split('\n')
        .filter((line) => / (GET|POST) \//.test(line));
      expect(requestLines.every((line) => !line.includes('{'))).toBe(true);
      expect(output()).not.toContain('/altair/');
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('honours the documented settings, and lets a developer try 25 bad tokens without being locked out', async () => {
    const { child, ready } = launchDev({
      PORT: String(await freePort()),
      DEV_IDP_PORT: String(await freePort()),
      RATE_LIMIT_CALLER_REQUESTS: '3',
      AZURE_TENANT_ID: '11111111-2222-4333-8444-555555555555',
    });
    try {
      const { url, token } = await ready;
      const post = (authorization: string) =>
        fetch(url as string, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body: JSON.stringify({ query: '{ hello { username } }' }),
        });
      for (let i = 0; i < 25; i += 1) expect((await post(`Bearer ${token}x`)).status).toBe(401);
      const statuses = [];
      for (let i = 0; i < 4; i += 1) statuses.push((await post(`Bearer ${token}`)).status);
      // RATE_LIMIT_CALLER_REQUESTS=3 from the environment; AZURE_TENANT_ID is the dev tenant whatever it says.
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
