import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
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
): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [dist('main.js')], {
    env: {
      ...baseEnv,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '0',
      AZURE_TENANT_ID: idp.tenantId,
      AZURE_CLIENT_ID: idp.clientId,
      AZURE_AUTHORITY_HOST: idp.url,
      ...env,
    },
  });
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

export async function until(condition: () => boolean, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((wait) => setTimeout(wait, 25));
  }
}
