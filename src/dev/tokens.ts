import { randomUUID } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import type { SigningKey } from './signing-key';

export type MintKind = 'user' | 'app';

export interface MintOptions {
  /** `1.0` (v1 issuer and claims) or `2.0`. Default `2.0`. */
  readonly version?: '1.0' | '2.0';
  /** `user` (delegated, with `scp`) or `app` (app-only, with `roles`). Default `user`. */
  readonly kind?: MintKind;
  /** Tenant GUID of the token. Default: the provider's tenant. */
  readonly tenantId?: string;
  /** `aud`. Default: the client id for v2, `api://<client id>` for v1. */
  readonly audience?: string;
  /** `scp` for user tokens. Default `access_as_user`. */
  readonly scopes?: string;
  /** `roles`. Default: none for users, `Hello.Read.All` for apps. */
  readonly roles?: readonly string[];
  /** Lifetime in seconds from `issuedAt`. Default 3600. */
  readonly expiresInSeconds?: number;
  /** `iat`/`nbf` as epoch seconds. Default: now. */
  readonly issuedAt?: number;
  /** Claims to add or replace; `undefined` removes a claim. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** Header parameters to add or replace. */
  readonly header?: Readonly<Record<string, unknown>>;
}

export interface Issuers {
  /** Issuer of v2 tokens for a tenant GUID. */
  v2(tenantId: string): string;
  /** Issuer of v1 tokens for a tenant GUID. */
  v1(tenantId: string): string;
}

/** Entra's v1 issuers live on another host than the authority. */
export const ENTRA_V1_ISSUER_ORIGIN = 'https://sts.windows.net';

/**
 * The issuer forms of an authority: `{v2 origin}/{tid}/v2.0` (the authority itself unless told otherwise) and
 * `{v1 origin}/{tid}/`. A v2 origin given as a function gets the tenant: External ID's is `https://{tid}.ciamlogin.com`.
 */
export function issuersOf(
  authority: string,
  v1Origin: string = ENTRA_V1_ISSUER_ORIGIN,
  v2Origin: string | ((tenant: string) => string) = authority,
): Issuers {
  const v2OriginOf = typeof v2Origin === 'string' ? () => v2Origin : v2Origin;
  return { v2: (tenant) => `${v2OriginOf(tenant)}/${tenant}/v2.0`, v1: (tenant) => `${v1Origin}/${tenant}/` };
}

export interface MintContext {
  readonly key: SigningKey;
  readonly issuers: Issuers;
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientAppId: string;
}

export const DEFAULT_USER = Object.freeze({
  username: 'ada@contoso.example',
  name: 'Ada Lovelace',
  employeeId: 'E-1815',
  objectId: '3f1e2d4c-5b6a-4789-8a0b-1c2d3e4f5a6b',
});

/** Signs an Entra-shaped access token with a real RSA key. */
export async function mintToken(context: MintContext, options: MintOptions = {}): Promise<string> {
  const version = options.version ?? '2.0';
  const kind = options.kind ?? 'user';
  const tenantId = options.tenantId ?? context.tenantId;
  const issuedAt = options.issuedAt ?? Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    aud: options.audience ?? (version === '2.0' ? context.clientId : `api://${context.clientId}`),
    iss: version === '2.0' ? context.issuers.v2(tenantId) : context.issuers.v1(tenantId),
    iat: issuedAt,
    nbf: issuedAt,
    exp: issuedAt + (options.expiresInSeconds ?? 3600),
    tid: tenantId,
    ver: version,
    uti: randomUUID().replaceAll('-', ''),
    ...(kind === 'user' ? userClaims(version, options) : appClaims(options)),
    [version === '2.0' ? 'azp' : 'appid']: context.clientAppId,
  };
  for (const [name, value] of Object.entries(options.claims ?? {})) {
    if (value === undefined) delete claims[name];
    else claims[name] = value;
  }
  const header = { alg: 'RS256', typ: 'JWT', kid: context.key.kid, ...options.header };
  return new SignJWT(claims as JWTPayload).setProtectedHeader(header as { alg: string }).sign(context.key.privateKey);
}

function userClaims(version: '1.0' | '2.0', options: MintOptions): Record<string, unknown> {
  const names =
    version === '2.0'
      ? { preferred_username: DEFAULT_USER.username }
      : { upn: DEFAULT_USER.username, unique_name: DEFAULT_USER.username };
  return {
    oid: DEFAULT_USER.objectId,
    sub: 'pairwise-subject-of-ada',
    name: DEFAULT_USER.name,
    employeeid: DEFAULT_USER.employeeId,
    scp: options.scopes ?? 'access_as_user',
    ...(options.roles ? { roles: [...options.roles] } : {}),
    ...names,
  };
}

function appClaims(options: MintOptions): Record<string, unknown> {
  const servicePrincipal = 'a7d0c3e1-9b2f-4c6d-8e1a-2b3c4d5e6f70';
  return { oid: servicePrincipal, sub: servicePrincipal, roles: [...(options.roles ?? ['Hello.Read.All'])] };
}
