import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import { CONTAINER_TOOLS, freePort, realService } from '../helpers/services';

/**
 * The Dockerfile, built and run here. No registry is reachable, so its base (an ARG defaulting to the official
 * node:22-slim) is a local stand-in made by local-base-image.sh; `buildah bud` builds the Dockerfile unchanged on it,
 * and `buildah run` starts the image's own entrypoint and command against an identity provider on loopback.
 */
const run = promisify(execFile);
const root = join(__dirname, '../..');
const BASE = 'localhost/node-base:22';
const IMAGE = 'localhost/entra-graphql-api:test';
const BUILD_TIMEOUT_MS = 15 * 60_000;

const available = CONTAINER_TOOLS.every((tool, index) =>
  realService(['mmdebstrap', 'podman', 'buildah'][index] as string, tool, 'mmdebstrap podman buildah'),
);
const describeContainer = available ? describe : describe.skip;

interface ImageConfig {
  User?: string;
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
}

describeContainer('the container image', () => {
  let container = '';
  let config: ImageConfig;

  beforeAll(async () => {
    const { stdout: known } = await run('podman', ['images', '--quiet', BASE]);
    // The base is a few minutes of downloads: a developer's machine keeps it; CI makes it afresh.
    if (known.trim() === '') await run(join(__dirname, 'local-base-image.sh'), [BASE], { timeout: BUILD_TIMEOUT_MS });
    // Behind a TLS-inspecting proxy (CI's included) npm needs its CA, which the Dockerfile takes as a build secret.
    const ca = process.env['NODE_EXTRA_CA_CERTS'];
    await run(
      'buildah',
      [
        'bud',
        '--isolation',
        'chroot',
        '--quiet',
        '--build-arg',
        `NODE_IMAGE=${BASE}`,
        ...(ca && existsSync(ca) ? ['--secret', `id=npm_ca,src=${ca}`] : []),
        '--tag',
        IMAGE,
        root,
      ],
      { timeout: BUILD_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 },
    );
    container = (await run('buildah', ['from', '--quiet', IMAGE])).stdout.trim();
    const inspected = JSON.parse((await run('buildah', ['inspect', container])).stdout) as {
      OCIv1: { config: ImageConfig };
    };
    config = inspected.OCIv1.config;
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    if (container !== '') await run('buildah', ['rm', container]);
    await run('buildah', ['rmi', IMAGE]).catch(() => undefined);
  });

  it('runs tini, then node dist/main.js in exec form, as a numeric non-root user, in production', () => {
    expect(config.Entrypoint).toEqual(['/usr/bin/tini', '--']);
    expect(config.Cmd).toEqual(['node', 'dist/main.js']);
    expect(config.User).toBe('10001:10001');
    expect(config.Env).toContain('NODE_ENV=production');
  });

  it('holds the built code and the production dependencies only', async () => {
    const mount = (await run('buildah', ['mount', container])).stdout.trim();
    try {
      const app = join(mount, 'app');
      expect(readdirSync(app).sort()).toEqual(['dist', 'node_modules', 'package-lock.json', 'package.json']);
      expect(existsSync(join(app, 'dist/main.js'))).toBe(true);
      // No dev tools (their local identity provider), tests, bench or dev keys.
      for (const absent of ['dist/dev', 'test', 'bench', '.dev', 'src'])
        expect(existsSync(join(app, absent))).toBe(false);
      // Every package the lock file marks dev-only (npm ci --omit=dev leaves them out), and the dev tools by name.
      const { packages } = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
        packages: Record<string, { dev?: boolean }>;
      };
      const devOnly = Object.entries(packages)
        .filter(([path, entry]) => entry.dev === true && path.startsWith('node_modules/'))
        .map(([path]) => path);
      expect(devOnly).toEqual(expect.arrayContaining(['node_modules/jest', 'node_modules/typescript']));
      const installedDev = devOnly.filter((path) => existsSync(join(app, path)));
      expect(installedDev).toEqual([]);
    } finally {
      await run('buildah', ['umount', container]);
    }
  });

  describe('started', () => {
    let idp: IdentityProvider;
    let child: ChildProcess;
    let output = '';
    let exit: Promise<number | null>;
    let url = '';

    beforeAll(async () => {
      idp = await startIdentityProvider();
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      const env = {
        AZURE_TENANT_ID: idp.tenantId,
        API_CLIENT_ID: idp.clientId,
        AZURE_AUTHORITY_HOST: idp.url,
        HOST: '127.0.0.1',
        PORT: String(port),
        SHUTDOWN_DRAIN_SECONDS: '1',
      };
      child = spawn(
        'buildah',
        [
          'run',
          '--isolation',
          'chroot',
          ...Object.entries(env).flatMap(([name, value]) => ['--env', `${name}=${value}`]),
          container,
          '--',
          ...(config.Entrypoint ?? []),
          ...(config.Cmd ?? []),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
      await waitFor(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200, 30_000);
    }, 60_000);

    afterAll(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await idp.close();
    });

    it('answers /healthz, /readyz and an authenticated hello', async () => {
      const health = await fetch(`${url}/healthz`);
      expect({ status: health.status, body: await health.json() }).toEqual({ status: 200, body: { status: 'ok' } });
      const ready = await fetch(`${url}/readyz`);
      expect({ status: ready.status, body: await ready.json() }).toEqual({ status: 200, body: { status: 'ready' } });
      const hello = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await idp.mint()}` },
        body: JSON.stringify({ query: '{ hello { kind username } }' }),
      });
      expect({ status: hello.status, body: await hello.json() }).toEqual({
        status: 200,
        body: { data: { hello: { kind: 'USER', username: 'ada@contoso.example' } } },
      });
    });

    it('runs Node as user 10001 under tini, and drains and exits 0 on SIGTERM to tini', async () => {
      const tini = descendants(child.pid as number).find((pid) => commandOf(pid)[0] === '/usr/bin/tini');
      const node = tini && descendants(tini).find((pid) => commandOf(pid).join(' ') === 'node dist/main.js');
      expect(node).toBeDefined();
      expect(uidOf(node as number)).toBe(10001);
      process.kill(tini as number, 'SIGTERM');
      expect(await exit).toBe(0);
      const events = output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => (JSON.parse(line) as { event?: string }).event)
        .filter((event) => event === 'stopping' || event === 'stopped');
      expect(events).toEqual(['stopping', 'stopped']);
    }, 30_000);
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('the container did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Every process below `pid` (buildah's chroot isolation shares the host's process table). */
function descendants(pid: number): number[] {
  const children = readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((candidate) => parentOf(candidate) === pid);
  return children.flatMap((child) => [child, ...descendants(child)]);
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function commandOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('Uid:')) as string;
  return Number(line.split(/\s+/)[1]);
}
