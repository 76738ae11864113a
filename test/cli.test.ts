import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevCertificates } from '../src/dev/dev-certificates';
import { loadOrCreateDevKey } from '../src/dev/dev-key';
import { DEV_CLIENT_ID, DEV_TENANT_ID, startIdentityProvider } from '../src/dev/identity-provider';
import {
  baseEnv,
  collectLogLines,
  dist,
  requireBuild,
  root,
  startProduction,
  until,
  waitForLine,
} from './helpers/process';
import { createTestServer } from './helpers/server';

beforeAll(requireBuild);

function run(file: string, env: Record<string, string>, cwd = root) {
  return spawnSync(process.execPath, [dist(file)], {
    env: { ...baseEnv, ...env },
    cwd,
    encoding: 'utf8',
    timeout: 15000,
  });
}

describe('npm start', () => {
  it('refuses to start without configuration and lists what to set', () => {
    const result = run('main.js', {});
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      [
        'Invalid configuration:',
        '  - AZURE_TENANT_ID is required: the tenant GUID, or organizations / common for a multi-tenant API',
        "  - API_CLIENT_ID is required: the API's application (client) id (AZURE_CLIENT_ID is read when it is unset)",
        'See docs/settings.md for every setting.',
        '',
      ].join('\n'),
    );
  });

  it('refuses to start with contradictory or unreadable credential settings, saying which', () => {
    const required = {
      AZURE_TENANT_ID: DEV_TENANT_ID,
      API_CLIENT_ID: DEV_CLIENT_ID,
      NODE_ENV: 'production',
    };
    const both = run('main.js', { ...required, API_CLIENT_SECRET: 'x', API_FEDERATED_TOKEN_FILE: '/run/token' });
    expect(both).toMatchObject({
      status: 1,
      stderr: [
        'Invalid configuration:',
        '  - API_CLIENT_SECRET and API_FEDERATED_TOKEN_FILE are all set: set exactly one credential for on-behalf-of calls',
        'See docs/settings.md for every setting.',
        '',
      ].join('\n'),
    });
    const missing = run('main.js', {
      ...required,
      API_CLIENT_CERTIFICATE_PATH: '/nonexistent/api.pem',
      WEB_CONCURRENCY: '2',
    });
    expect(missing).toMatchObject({
      status: 1,
      stderr: [
        'Invalid configuration:',
        '  - API_CLIENT_CERTIFICATE_PATH: cannot read /nonexistent/api.pem (ENOENT)',
        'See docs/settings.md for every setting.',
        '',
      ].join('\n'),
      stdout: '',
    });
  });

  it('refuses to start on a misspelt setting, naming the closest one, and on a retired one, naming its replacement', () => {
    const result = run('main.js', {
      AZURE_TENANT_ID: DEV_TENANT_ID,
      API_CLIENT_ID: DEV_CLIENT_ID,
      RATE_LIMIT_AUTH_FAILURE: '60',
      API_REQUIRED_SCOPES: 'access_as_user',
    });
    expect(result).toMatchObject({ status: 1, stdout: '' });
    expect(result.stderr).toContain(
      '  - RATE_LIMIT_AUTH_FAILURE is not a setting of this API: did you mean RATE_LIMIT_AUTH_FAILURES?\n',
    );
    expect(result.stderr).toContain('  - API_REQUIRED_SCOPES is retired: each operation declares');
  });

  it('runs in production when NODE_ENV is unset, and says so', async () => {
    const idp = await startIdentityProvider();
    const child = startProduction(idp, {}, ['NODE_ENV']);
    try {
      const lines = collectLogLines(child);
      await until(() => lines.some((line) => line['event'] === 'listening'));
      expect(lines.find((line) => line['event'] === 'env_default')).toMatchObject({
        env: 'production',
        msg: 'NODE_ENV is unset: running in production (no IDE, no introspection); set NODE_ENV=development for them',
      });
      const listening = lines.find((line) => line['event'] === 'listening') as { url: string; env: string };
      expect(listening.env).toBe('production');
      expect((await fetch(listening.url.replace('/graphql', '/altair'))).status).toBe(404);
    } finally {
      child.kill('SIGKILL');
      await idp.close();
    }
  });

  it('answers a port in use with one plain line on stderr', async () => {
    const idp = await startIdentityProvider();
    const taken = await createTestServer({}, idp);
    const { port } = new URL(taken.url);
    const child = startProduction(idp, { PORT: port });
    try {
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      expect(await new Promise((done) => child.on('exit', done))).toBe(1);
      expect(stderr).toBe(
        `Could not start: 127.0.0.1:${port} is in use (HOST, PORT): stop what uses it or choose another\n`,
      );
      expect(stdout).not.toContain('listening');
    } finally {
      child.kill('SIGKILL');
      await taken.close();
      await idp.close();
    }
  });

  it('serves in production mode without landing page or introspection, and finishes in-flight requests on SIGTERM', async () => {
    const idp = await startIdentityProvider();
    const child = startProduction(idp);
    try {
      const listening = JSON.parse(await waitForLine(child, /"event":"listening"/)) as { url: string; ready: boolean };
      expect(listening.ready).toBe(true);
      const html = await fetch(listening.url, { headers: { accept: 'text/html' } });
      expect(html.headers.get('content-type')).not.toContain('text/html');
      const introspection = await fetch(listening.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await idp.mint()}` },
        body: JSON.stringify({ query: '{ __schema { queryType { name } } }' }),
      });
      expect(introspection.status).toBe(400);
      expect(await introspection.json()).toMatchObject({
        errors: [{ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }],
      });

      // An unknown kid makes the server refetch keys from a slow provider: the request is in flight at SIGTERM.
      idp.setDelay(700);
      const inFlight = fetch(listening.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${await idp.mint({ header: { kid: 'new-kid' } })}`,
        },
        body: JSON.stringify({ query: '{ hello { username } }' }),
      });
      await new Promise((wait) => setTimeout(wait, 200));
      const exited = new Promise<number | null>((done) => child.on('exit', done));
      child.kill('SIGTERM');
      const reply = await inFlight;
      expect(reply.status).toBe(401);
      expect(await reply.json()).toMatchObject({ errors: [{ extensions: { reason: 'unknown_key' } }] });
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await idp.close();
    }
  });
});

describe('WEB_CONCURRENCY', () => {
  it('runs that many workers on one port, replaces none while healthy, and stops them all on SIGTERM', async () => {
    const idp = await startIdentityProvider();
    const child = startProduction(idp, { WEB_CONCURRENCY: '2' });
    try {
      const lines: Record<string, unknown>[] = [];
      child.stdout.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      });
      const deadline = Date.now() + 10000;
      while (lines.filter((line) => line['event'] === 'listening').length < 2 && Date.now() < deadline) {
        await new Promise((wait) => setTimeout(wait, 50));
      }
      const listening = lines.filter((line) => line['event'] === 'listening');
      expect(listening).toHaveLength(2);
      expect(new Set(listening.map((line) => line['pid'])).size).toBe(2);
      expect(listening[0]!['url']).toBe(listening[1]!['url']);
      const token = await idp.mint();
      for (let i = 0; i < 4; i += 1) {
        const reply = await fetch(listening[0]!['url'] as string, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: '{ hello { username } }' }),
        });
        expect(reply.status).toBe(200);
      }
      const exited = new Promise<number | null>((done) => child.on('exit', done));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(lines.filter((line) => line['event'] === 'stopped')).toHaveLength(2);
      // Through the real stdout destination: every request's line, flushed by the time the workers exit.
      expect(lines.filter((line) => line['msg'] === 'request completed' && line['status'] === 200)).toHaveLength(4);
      expect(lines.some((line) => line['event'] === 'worker_exited')).toBe(false);
    } finally {
      child.kill('SIGKILL');
      await idp.close();
    }
  });
});

describe('dev tools', () => {
  it.each(['dev/launch.js', 'dev/token-cli.js'])('%s refuses to run with NODE_ENV=production', (file) => {
    const result = run(file, { NODE_ENV: 'production' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/is for local development only and does not run with NODE_ENV=production\.\n$/);
    expect(result.stdout).toBe('');
  });

  it('npm run token prints a user token that the dev-configured server accepts', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'token-cli-'));
    // As npm run dev serves it: over https, with a CA only the API trusts.
    const certificates = await createDevCertificates();
    writeFileSync(join(cwd, 'ca.pem'), certificates.ca);
    const idp = await startIdentityProvider({
      signingKey: await loadOrCreateDevKey(join(cwd, '.dev')),
      tls: certificates.server,
    });
    const api = await createTestServer(
      { AZURE_TENANT_ID: DEV_TENANT_ID, AZURE_CLIENT_ID: DEV_CLIENT_ID, OUTBOUND_CA_FILE: join(cwd, 'ca.pem') },
      idp,
    );
    try {
      const result = run('dev/token-cli.js', { DEV_IDP_PORT: new URL(idp.url).port }, cwd);
      expect(result.status).toBe(0);
      const token = result.stdout.trim();
      expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      const reply = await api.queryWithToken(token, '{ hello { username employeeId scopes } }');
      expect(reply).toMatchObject({
        status: 200,
        body: {
          data: { hello: { username: 'ada@contoso.example', employeeId: 'E-1815', scopes: ['access_as_user'] } },
        },
      });
      const app = run('dev/token-cli.js', { DEV_IDP_PORT: new URL(idp.url).port }, cwd);
      expect(app.status).toBe(0);
    } finally {
      await api.close();
      await idp.close();
    }
  });

  it('npm run token mints app-only and v1 tokens from options', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'token-cli-'));
    const idp = await startIdentityProvider({ signingKey: await loadOrCreateDevKey(join(cwd, '.dev')) });
    const api = await createTestServer({ AZURE_TENANT_ID: DEV_TENANT_ID, AZURE_CLIENT_ID: DEV_CLIENT_ID }, idp);
    try {
      const port = new URL(idp.url).port;
      const appToken = spawnSync(
        process.execPath,
        [dist('dev/token-cli.js'), '--app', '--v1', '--claim', 'idtyp=app'],
        {
          env: { ...baseEnv, DEV_IDP_PORT: port },
          cwd,
          encoding: 'utf8',
        },
      ).stdout.trim();
      const reply = await api.queryWithToken(appToken, '{ hello { kind roles } }');
      expect(reply).toMatchObject({
        status: 200,
        body: { data: { hello: { kind: 'APP', roles: ['Hello.Read.All'] } } },
      });
      const help = spawnSync(process.execPath, [dist('dev/token-cli.js'), '--help'], {
        env: baseEnv,
        cwd,
        encoding: 'utf8',
      });
      expect(help.stdout).toContain('Usage: npm run -s token -- [options]');
    } finally {
      await api.close();
      await idp.close();
    }
  });
});
