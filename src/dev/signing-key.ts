import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';

/** An RSA key pair of the local identity provider. */
export interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
  readonly privateJwk: JWK;
}

export async function createSigningKey(kid: string = randomUUID()): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  return fromKeys(kid, privateKey, await exportJWK(publicKey));
}

/** Rebuilds a key saved as a private JWK (with its kid). */
export async function signingKeyFromJwk(privateJwk: JWK): Promise<SigningKey> {
  if (!privateJwk.kid || !privateJwk.n || !privateJwk.e) throw new TypeError('saved key lacks kid, n or e');
  const privateKey = (await importJWK(privateJwk, 'RS256', { extractable: true })) as CryptoKey;
  return fromKeys(privateJwk.kid, privateKey, { kty: 'RSA', n: privateJwk.n, e: privateJwk.e });
}

async function fromKeys(kid: string, privateKey: CryptoKey, publicJwk: JWK): Promise<SigningKey> {
  const privateJwk = { ...(await exportJWK(privateKey)), kid };
  return {
    kid,
    privateKey,
    privateJwk,
    publicJwk: { kty: 'RSA', use: 'sig', alg: 'RS256', kid, n: publicJwk.n, e: publicJwk.e },
  };
}
