import type { JWTPayload } from 'jose';

export type TokenVersion = '1.0' | '2.0';
export type CallerKind = 'user' | 'app';
/**
 * Entra Agent ID: `agent` when the token's subject is an agent identity (facet 11 in `xms_sub_fct`), `agent_user`
 * when it is an agent's user account (facet 13).
 */
export type AgentKind = 'agent' | 'agent_user';

const AGENT_IDENTITY_FACET = '11';
const AGENT_USER_FACET = '13';

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
  /**
   * What kind of agent the subject is, or null for a person or an ordinary app. `kind` still says how it was
   * granted (delegated or app-only), which is what scopes and app permissions are matched by.
   */
  readonly agent: AgentKind | null;
  /** An agent identity acts in this token (`xms_act_fct` 11), also when its subject is a person it acts for. */
  readonly actedByAgent: boolean;
  /** The agent identity blueprint's app id (`xms_par_app_azp`): for logs and audit, never for authorization. */
  readonly agentBlueprintId: string | null;
  /** Object ids of the groups in the token (`groups`); empty when it has none or when `groupsOverage`. */
  readonly groups: readonly string[];
  /**
   * The caller is in more groups than a token holds (over 200 in a JWT): Entra sent `_claim_names` instead of
   * `groups`, so `groups` says nothing about membership.
   */
  readonly groupsOverage: boolean;
}

/** Who the subject is: an agent as Entra Agent ID marks it, else how the token was granted (`kind`). */
export function subjectKindOf(principal: Principal): CallerKind | AgentKind {
  return principal.agent ?? principal.kind;
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
  externalTenant: boolean,
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
  const subjectFacets = facets(claims, 'xms_sub_fct');
  const groupsOverage = hasGroupsOverage(claims);
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
    isGuest: kind === 'user' && isGuest(claims, externalTenant),
    // The verifier refused any token whose exp is not a NumericDate.
    expiresAt: claims.exp as number,
    authContexts: stringsClaim(claims, 'acrs'),
    clientCapabilities: stringsClaim(claims, 'xms_cc'),
    agent: subjectFacets.includes(AGENT_USER_FACET)
      ? 'agent_user'
      : subjectFacets.includes(AGENT_IDENTITY_FACET)
        ? 'agent'
        : null,
    actedByAgent: facets(claims, 'xms_act_fct').includes(AGENT_IDENTITY_FACET),
    agentBlueprintId: stringClaim(claims, 'xms_par_app_azp') ?? null,
    groups: groupsOverage ? Object.freeze([]) : stringsClaim(claims, 'groups'),
    groupsOverage,
  });
}

/**
 * Overage: past the groups a token can hold, Entra names a source in `_claim_names.groups` instead (`hasgroups` in
 * tokens from the implicit flow).
 */
function hasGroupsOverage(claims: JWTPayload): boolean {
  const names = claims['_claim_names'];
  return (
    claims['hasgroups'] === true || (typeof names === 'object' && names !== null && Object.hasOwn(names, 'groups'))
  );
}

/** A facet claim: numbers separated by spaces (`"3 9 11"`), in no set order. */
function facets(claims: JWTPayload, name: string): readonly string[] {
  const value = claims[name];
  if (typeof value === 'string') return value.split(' ');
  return Array.isArray(value) ? value.map(String) : [];
}

/**
 * `acct` 1 marks a guest; in a workforce tenant an `idp` naming another tenant (or a consumer account provider) marks
 * one too. An External ID tenant's customers sign in with social and email providers as its own users, not guests.
 */
function isGuest(claims: VerifiedClaims, externalTenant: boolean): boolean {
  if (claims['acct'] === 1) return true;
  if (externalTenant) return false;
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
