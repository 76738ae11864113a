import type { JWTPayload } from 'jose';

export type TokenVersion = '1.0' | '2.0';
export type CallerKind = 'user' | 'app';

/** The verified caller. Authorise on `tenantId`/`objectId` and permissions, never on the display names. */
export interface Principal {
  readonly kind: CallerKind;
  readonly tenantId: string;
  /** The user's object id, or the app's service principal's; null only for app tokens that carry no `oid`. */
  readonly objectId: string | null;
  /** `sub`; null only for app tokens that carry none. */
  readonly subject: string | null;
  /** preferred_username, upn, unique_name or email for users (mutable: display only); the client id for apps. */
  readonly username: string;
  /** The configured employee id claim, or null when the tenant does not issue it. */
  readonly employeeId: string | null;
  readonly name: string | null;
  /** Delegated scopes (`scp`), only ever present for users. */
  readonly scopes: readonly string[];
  /** App permissions for apps; app-role assignments for users (which are not app permissions). */
  readonly roles: readonly string[];
  /** The calling client application's id (`azp` in v2, `appid` in v1); every access token names it. */
  readonly appId: string;
  readonly tokenVersion: TokenVersion;
  readonly isGuest: boolean;
  /** The token's `exp` (seconds since the epoch): what the caller is verified until, before the clock skew. */
  readonly expiresAt: number;
  /**
   * The Conditional Access authentication contexts the sign-in satisfied (`acrs`, e.g. `c1`): what a step-up
   * (`@requiresAuthContext`) asks for. Empty when the token has none.
   */
  readonly authContexts: readonly string[];
  /**
   * The client's capabilities (`xms_cc`): `cp1` says it can handle a claims challenge, so a missing authentication
   * context is answered with one (401 insufficient_claims) rather than refused (403).
   */
  readonly clientCapabilities: readonly string[];
}

/** Claims already verified (signature, issuer, audience, types of scp/roles/oid/tid/sub) by the verifier. */
export interface VerifiedClaims extends JWTPayload {
  tid: string;
  /** Present in every user token. */
  oid?: string;
  iss: string;
  scp?: string;
  roles?: string[];
}

/** `kind` was decided by the verifier, which also made sure that the client id (and a user's `oid`) is present. */
export function toPrincipal(
  claims: VerifiedClaims,
  kind: CallerKind,
  version: TokenVersion,
  employeeIdClaim: string,
): Principal {
  const scopes = claims.scp === undefined ? [] : claims.scp.split(' ').filter((scope) => scope !== '');
  const appId = (version === '2.0' ? claims['azp'] : claims['appid']) as string;
  const objectId = claims.oid ?? null;
  const username =
    kind === 'app'
      ? appId
      : (stringClaim(claims, 'preferred_username') ??
        stringClaim(claims, 'upn') ??
        stringClaim(claims, 'unique_name') ??
        stringClaim(claims, 'email') ??
        (objectId as string));
  return Object.freeze({
    kind,
    tenantId: claims.tid,
    objectId,
    subject: claims.sub ?? null,
    username,
    employeeId: stringClaim(claims, employeeIdClaim) ?? null,
    name: stringClaim(claims, 'name') ?? null,
    scopes: Object.freeze(scopes),
    roles: Object.freeze([...(claims.roles ?? [])]),
    appId,
    tokenVersion: version,
    isGuest: kind === 'user' && isGuest(claims),
    // The verifier refused any token whose exp is not a NumericDate.
    expiresAt: claims.exp as number,
    authContexts: stringsClaim(claims, 'acrs'),
    clientCapabilities: stringsClaim(claims, 'xms_cc'),
  });
}

// `acct` 1 marks a guest; an `idp` naming another tenant (or a consumer account provider) marks one too.
function isGuest(claims: VerifiedClaims): boolean {
  if (claims['acct'] === 1) return true;
  const idp = stringClaim(claims, 'idp');
  return idp !== undefined && idp !== claims.iss && !idp.toLowerCase().includes(claims.tid.toLowerCase());
}

/** A claim that Entra ID issues as an array of strings; anything else in it is ignored. */
function stringsClaim(claims: JWTPayload, name: string): readonly string[] {
  const value = claims[name];
  return Object.freeze(Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []);
}

function stringClaim(claims: JWTPayload, name: string): string | undefined {
  const value = claims[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
