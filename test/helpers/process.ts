import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { IdentityProvider } from '../../src/dev/identity-provider';

// These run the compiled entry points, as `npm start`, `npm run dev` and `npm run token` do (`npm test` builds first).
export const root = resolve(__dirname, '../..');
export const dist = (file: string) => join(root, 'dist', file);
export const baseEnv = { PATH: process.env['PATH'] ?? '' };

export function requireBuild(): void {
  if (!existsSync(dist('main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does it first)');
}

/** `npm start` in production mode on a loopback port (a free one by default), verifying against `idp`. */
export function startProduction(
  idp: IdentityProvider,
  env: Record<string, string> = {},
  unset: readonly string[] = [],
): ChildProcessWithoutNullStreams {
  const environment: Record<string, string> = {
    ...baseEnv,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: '0',
    AZURE_TENANT_ID: idp.tenantId,
    AZURE_CLIENT_ID: idp.clientId,
    AZURE_AUTHORITY_HOST: idp.url,
    ...env,
  };
  for (const name of unset) delete environment[name];
  return spawn(process.execPath, [dist('main.js')], { env: environment });
}

export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 10000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}: ${output}`)), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((candidate) => pattern.test(candidate));
      if (line) {
        clearTimeout(timer);
        resolvePromise(line);
      }
    });
  });
}

/** Every JSON log line the process writes, as it writes them. */
export function collectLogLines(child: ChildProcessWithoutNullStreams): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const complete = text.split('\n');
    partial = complete.pop() ?? '';
    for (const line of complete.filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return lines;
}

export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((wait) => setTimeout(wait, 25));
  }
}

export interface DevLaunch {
  child: ChildProcessWithoutNullStreams;
  /** Everything written on stdout so far. */
  output(): string;
  /** The banner's API URL, offline IDE URL and token once it is printed; or the exit code and stderr if it stops. */
  ready: Promise<{ url?: string; ide?: string; token?: string; code?: number | null; stderr: string }>;
}

/** `npm run dev` (the compiled launcher) in `cwd`, a new scratch directory by default, so that `.dev/` is its own. */
export function launchDev(env: Record<string, string>, cwd = mkdtempSync(join(tmpdir(), 'dev-launch-'))): DevLaunch {
  const child = spawn(process.execPath, [dist('dev/launch.js')], { env: { ...baseEnv, ...env }, cwd });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ready: DevLaunch['ready'] = new Promise((resolvePromise) => {
    child.stdout.on('data', () => {
      const url = /GraphQL API: +(\S+)/.exec(stdout)?.[1];
      const ide = /GraphQL IDE \(offline\): +(\S+)/.exec(stdout)?.[1];
      const token = /\n([\w-]+\.[\w-]+\.[\w-]+)\n/.exec(stdout)?.[1];
      if (url && ide && token) resolvePromise({ url, ide, token, stderr });
    });
    child.on('exit', (code) => resolvePromise({ code, stderr }));
  });
  return { child, ready, output: () => stdout };
}
