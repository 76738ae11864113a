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

/** The local identity provider's port when DEV_IDP_PORT is not set. */
export const DEFAULT_DEV_IDP_PORT = 4010;

export function refuseProduction(what: string): void {
  if (process.env['NODE_ENV'] === 'production') {
    console.error(`${what} is for local development only and does not run with NODE_ENV=production.`);
    process.exit(1);
  }
}

const IDP_FILE = 'identity-provider.json';

/** Notes where `npm run dev`'s identity provider listens, so that `npm run token` finds it in another terminal. */
export function recordIdentityProvider(url: string, directory = join(process.cwd(), '.dev')): void {
  mkdirSync(directory, { recursive: true });
  writeFileSync(join(directory, IDP_FILE), JSON.stringify({ url }));
}

/** The authority `npm run token` signs for: DEV_IDP_PORT when set, else the recorded one, else the default port. */
export function devAuthority(idpPort: number | undefined, directory = join(process.cwd(), '.dev')): string {
  // npm run dev serves its provider over https (msal-node refuses http authorities).
  if (idpPort !== undefined) return `https://127.0.0.1:${idpPort}`;
  try {
    const { url } = JSON.parse(readFileSync(join(directory, IDP_FILE), 'utf8')) as { url?: unknown };
    if (typeof url === 'string' && /^https?:\/\/127\.0\.0\.1:\d+$/.test(url)) return url;
  } catch {
    // nothing recorded: the default port
  }
  return `https://127.0.0.1:${DEFAULT_DEV_IDP_PORT}`;
}
