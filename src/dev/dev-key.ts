import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSigningKey, signingKeyFromJwk, type SigningKey } from './signing-key';

/**
 * The dev provider's signing key, kept in `.dev/` (git-ignored) so that `npm run token` in another terminal
 * signs tokens the running `npm run dev` server accepts.
 */
export async function loadOrCreateDevKey(directory = join(process.cwd(), '.dev')): Promise<SigningKey> {
  const file = join(directory, 'signing-key.json');
  try {
    return await signingKeyFromJwk(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    const key = await createSigningKey();
    mkdirSync(directory, { recursive: true });
    writeFileSync(file, JSON.stringify(key.privateJwk), { mode: 0o600 });
    return key;
  }
}

export const DEV_IDP_PORT = Number(process.env['DEV_IDP_PORT'] ?? 4010);
export const DEV_AUTHORITY = `http://127.0.0.1:${DEV_IDP_PORT}`;
export const DEV_API_SCOPE = 'access_as_user';
export const DEV_APP_ROLE = 'Hello.Read.All';

export function refuseProduction(what: string): void {
  if (process.env['NODE_ENV'] === 'production') {
    console.error(`${what} is for local development only and does not run with NODE_ENV=production.`);
    process.exit(1);
  }
}
