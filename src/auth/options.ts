import type { TokenVersion } from './principal';

/** The subset of a pino-style logger the auth code writes to. */
export interface AuthLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/** `workforce`: a Microsoft Entra ID tenant. `external`: an Entra External ID (customer) tenant. */
export type TenantType = 'workforce' | 'external';

export interface VerifierOptions {
  /** Tenant GUID, or `organizations` / `common` for a multi-tenant API (workforce tenants only). */
  readonly tenantId: string;
  /**
   * Default `workforce`. `external` accepts the v2 tokens of an External ID tenant, whose issuer its discovery
   * document names (`https://<tenant id>.ciamlogin.com/<tenant id>/v2.0`, or a custom URL domain's).
   */
  readonly tenantType?: TenantType;
  /** The API's application (client) id. */
  readonly clientId: string;
  /**
   * Authority host, e.g. `https://login.microsoftonline.com`, or for an External ID tenant
   * `https://<subdomain>.ciamlogin.com` or its custom URL domain; plain http only on loopback addresses.
   */
  readonly authorityHost: string;
  /** Accepted `aud` values. Default: `api://<clientId>` and `<clientId>`. */
  readonly audiences?: readonly string[];
  /** Tenant GUIDs accepted in multi-tenant mode (required there, refused otherwise). */
  readonly allowedTenants?: readonly string[];
  /** Accepted access token versions. Default: both. */
  readonly acceptedVersions?: readonly TokenVersion[];
  /** Tolerance on `exp` and `nbf`, in seconds. Default: 300. */
  readonly clockSkewSeconds?: number;
  /** Claim holding the employee id. Default: `employeeid`. */
  readonly employeeIdClaim?: string;
  /** Use the app-specific signing keys (`?appid=<clientId>` on discovery). Default: false. */
  readonly appSpecificSigningKeys?: boolean;
  /** Accept tokens that carry neither `scp` nor `roles` (APIs that authorise by an access list). Default: false. */
  readonly allowTokensWithoutPermissions?: boolean;
  /** Minimum time between two key refetches caused by unknown key ids, in seconds. Default: 30. */
  readonly keyRefetchCooldownSeconds?: number;
  /** Background key refresh interval, in seconds. Default: 3600. */
  readonly keyRefreshIntervalSeconds?: number;
  /** How long the last good key set keeps serving while refreshes fail, in seconds. Default: 86400. */
  readonly keyMaxStaleSeconds?: number;
  /** Most successful verifications remembered (LRU); 0 turns the cache off. Default: 10000. */
  readonly tokenCacheMaxEntries?: number;
  /** Longest time a verification is remembered, in seconds; never past the token's `exp`. Default: 300. */
  readonly tokenCacheTtlSeconds?: number;
  /** Time limit of one request to the identity provider, in ms. Default: 5000. */
  readonly httpTimeoutMs?: number;
  /** Injected for tests: the fetch used for discovery and keys. Default: global fetch. */
  readonly fetch?: typeof fetch;
  /** Injected for tests: the clock, in ms since the epoch. Default: Date.now. */
  readonly now?: () => number;
  readonly logger?: AuthLogger;
  /** Called after every attempt to fetch signing keys, e.g. to count them in metrics. */
  readonly onKeyFetch?: (event: KeyFetchEvent) => void;
}

export interface KeyFetchEvent {
  /** `v1.0` or `v2.0`. */
  readonly source: string;
  readonly ok: boolean;
}

export const MULTI_TENANT = ['organizations', 'common'] as const;

export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const LOOPBACK = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/;

export type NormalizedOptions = Required<Omit<VerifierOptions, 'logger' | 'onKeyFetch'>> & {
  readonly logger: AuthLogger;
  readonly onKeyFetch: (event: KeyFetchEvent) => void;
  readonly multiTenant: boolean;
};

const silent: AuthLogger = { info: () => undefined, warn: () => undefined };

/** Merges defaults and refuses a bad option with a TypeError that says what to set. */
export function normalizeOptions(options: VerifierOptions): NormalizedOptions {
  const multiTenant = (MULTI_TENANT as readonly string[]).includes(options.tenantId);
  const tenantType = options.tenantType ?? 'workforce';
  if (tenantType !== 'workforce' && tenantType !== 'external') {
    throw new TypeError('tenantType must be "workforce" or "external"');
  }
  if (tenantType === 'external' && !GUID.test(options.tenantId)) {
    throw new TypeError('tenantId of an External ID tenant must be its tenant GUID');
  }
  if (!multiTenant && !GUID.test(options.tenantId)) {
    throw new TypeError('tenantId must be a tenant GUID, "organizations" or "common"');
  }
  if (!GUID.test(options.clientId)) throw new TypeError('clientId must be the application (client) id GUID');
  if (!isAllowedAuthority(options.authorityHost)) {
    throw new TypeError('authorityHost must be an https URL without a path (plain http only for loopback hosts)');
  }
  const allowedTenants = (options.allowedTenants ?? []).map((tenant) => tenant.toLowerCase());
  if (multiTenant && allowedTenants.length === 0) {
    throw new TypeError('allowedTenants must list the accepted tenant GUIDs when tenantId is multi-tenant');
  }
  if (!multiTenant && allowedTenants.length > 0) {
    throw new TypeError('allowedTenants is only for a multi-tenant tenantId ("organizations" or "common")');
  }
  if (!allowedTenants.every((tenant) => GUID.test(tenant))) throw new TypeError('allowedTenants must be tenant GUIDs');
  const acceptedVersions = options.acceptedVersions ?? (tenantType === 'external' ? ['2.0'] : ['1.0', '2.0']);
  if (acceptedVersions.length === 0 || !acceptedVersions.every((v) => v === '1.0' || v === '2.0')) {
    throw new TypeError('acceptedVersions must hold "1.0", "2.0" or both');
  }
  // External ID's documented issuer is the v2 one; the API's registration asks for v2 tokens (requestedAccessTokenVersion 2).
  if (tenantType === 'external' && acceptedVersions.includes('1.0')) {
    throw new TypeError('An External ID tenant is trusted for v2 access tokens only: acceptedVersions must be ["2.0"]');
  }
  const audiences = options.audiences ?? [`api://${options.clientId}`, options.clientId];
  if (audiences.length === 0 || audiences.some((audience) => audience === '')) {
    throw new TypeError('audiences must hold at least one non-empty value');
  }
  const normalized = {
    tenantId: options.tenantId.toLowerCase(),
    tenantType,
    clientId: options.clientId.toLowerCase(),
    authorityHost: new URL(options.authorityHost).origin,
    audiences,
    allowedTenants,
    acceptedVersions,
    clockSkewSeconds: options.clockSkewSeconds ?? 300,
    employeeIdClaim: options.employeeIdClaim ?? 'employeeid',
    appSpecificSigningKeys: options.appSpecificSigningKeys ?? false,
    allowTokensWithoutPermissions: options.allowTokensWithoutPermissions ?? false,
    keyRefetchCooldownSeconds: options.keyRefetchCooldownSeconds ?? 30,
    keyRefreshIntervalSeconds: options.keyRefreshIntervalSeconds ?? 3600,
    keyMaxStaleSeconds: options.keyMaxStaleSeconds ?? 86400,
    httpTimeoutMs: options.httpTimeoutMs ?? 5000,
    tokenCacheMaxEntries: options.tokenCacheMaxEntries ?? 10000,
    tokenCacheTtlSeconds: options.tokenCacheTtlSeconds ?? 300,
    fetch: options.fetch ?? fetch,
    now: options.now ?? Date.now,
    logger: options.logger ?? silent,
    onKeyFetch: options.onKeyFetch ?? (() => undefined),
    multiTenant,
  };
  for (const name of [
    'clockSkewSeconds',
    'keyRefetchCooldownSeconds',
    'keyRefreshIntervalSeconds',
    'keyMaxStaleSeconds',
    'httpTimeoutMs',
    'tokenCacheMaxEntries',
    'tokenCacheTtlSeconds',
  ] as const) {
    if (!Number.isInteger(normalized[name]) || normalized[name] < 0)
      throw new TypeError(`${name} must be a whole number >= 0`);
  }
  if (normalized.keyRefreshIntervalSeconds < 1) throw new TypeError('keyRefreshIntervalSeconds must be at least 1');
  if (normalized.employeeIdClaim === '') throw new TypeError('employeeIdClaim must name a claim');
  return normalized;
}

export function isAllowedAuthority(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) return false;
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.test(url.hostname));
}
