import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Tests that need a real service (Redis, Chromium) run against the real one. CI installs them (.ci/run) and a
 * missing one fails there; on a developer machine without them those tests are skipped, as test/global-setup.ts
 * says once at the start of the run.
 */
export function realService(name: string, path: string, debianPackage: string): boolean {
  if (existsSync(path)) return true;
  if (process.env['CI']) {
    throw new Error(`${name} is required in CI but ${path} is missing: .ci/run installs it (${debianPackage})`);
  }
  return false;
}

export const REDIS_SERVER = '/usr/bin/redis-server';
export const CHROMIUM = '/usr/bin/chromium';
/** What the container test builds and runs the image with (Debian packages mmdebstrap, podman, buildah). */
export const CONTAINER_TOOLS = ['/usr/bin/mmdebstrap', '/usr/bin/podman', '/usr/bin/buildah'] as const;

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface RedisServer {
  url: string;
  stop(): Promise<void>;
}

/** A throwaway redis-server on a free loopback port, with persistence off. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis-server did not start')), 10000);
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
