import { MAX_AUTHORIZATION_LENGTH } from './bearer';
import { AuthError, authError } from './errors';
import { hasValidRs256Signature, parseCompactJws } from './jws';
import { GUID, normalizeOptions, type NormalizedOptions, type VerifierOptions } from './options';
import { toPrincipal, type Principal, type TokenVersion, type VerifiedClaims } from './principal';
import { signatureThread } from './signature-thread';
import { SigningKeySource, type ResolvedKey } from './signing-keys';
import { VerifiedTokenCache, type TokenCacheStats } from './token-cache';

export interface TokenVerifier {
  /** Verifies an access token and returns the caller, or throws an AuthError. */
  verify(token: string): Promise<Principal>;
  /** True when the signing keys of every accepted token version are loaded. */
  ready(): boolean;
  /** Loads metadata and keys now (and starts the signature-check thread); keeps the keys fresh until stop(). */
  start(): Promise<void>;
  stop(): void;
  /** Age of the oldest key set in seconds, or null when some keys were never obtained. */
  keyAgeSeconds(): number | null;
  /** Hits and misses of the verified-token cache. */
  cacheStats(): TokenCacheStats;
}

const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const GRAPH_AUDIENCE =
  /^https:\/\/(graph\.microsoft\.[a-z.]+|dod-graph\.microsoft\.us|microsoftgraph\.chinacloudapi\.cn)\/?$/i;
const B2C_HOST = /(\.|^)(b2clogin\.com|ciamlogin\.com)$/i;
const TENANT_TEMPLATE = '{tenantid}';

/** Decoded JSON of a token header or payload. */
type Claims = Record<string, unknown>;

export function createTokenVerifier(options: VerifierOptions): TokenVerifier {
  const config = normalizeOptions(options);
  const sources = new Map<TokenVersion, SigningKeySource>(
    config.acceptedVersions.map((version) => [version, keySource(config, version)]),
  );
  const scopeHint = `api://${config.clientId}/.default`;
  const cache =
    config.tokenCacheMaxEntries > 0
      ? new VerifiedTokenCache(config.tokenCacheMaxEntries, config.tokenCacheTtlSeconds * 1000)
      : undefined;
  const stillPublished = (version: TokenVersion, kid: string) => sources.get(version)?.publishes(kid) === true;
  let timer: NodeJS.Timeout | undefined;
  let stopped = true;
  let employeeIdHintLogged = false;

  function schedule(): void {
    if (stopped) return;
    const allReady = [...sources.values()].every((source) => source.ready);
    const delaySeconds = allReady ? config.keyRefreshIntervalSeconds : Math.max(1, config.keyRefetchCooldownSeconds);
    timer = setTimeout(() => {
      void Promise.all([...sources.values()].map((source) => source.refresh())).then(schedule);
    }, delaySeconds * 1000);
    timer.unref();
  }

  async function verify(token: string): Promise<Principal> {
    // Everything before the signature check reads unverified data: it may only refuse a token or pick its key.
    if (token.length > MAX_AUTHORIZATION_LENGTH) throw authError('token_too_large');
    const cacheKey = cache && VerifiedTokenCache.keyOf(token);
    const remembered = cacheKey && cache.get(cacheKey, config.now(), stillPublished);
    if (remembered) return remembered;
    const jws = parseCompactJws(token);
    const { header, payload: claims } = jws;
    checkHeader(header);
    if (isGraphAudience(claims.aud)) {
      throw new AuthError('graph_token', {
        description: `This is a Microsoft Graph token, which only Graph can validate: request a token for this API (${scopeHint})`,
        detail: 'Graph audience',
      });
    }
    const version = tokenVersion(claims);
    const source = sources.get(version);
    if (!source) throw authError('version_not_accepted', `version ${version} is not accepted`);
    const kid = header.kid as string;
    const key = await source.resolve(kid);
    // A published key that cannot be used is the provider's fault: it surfaces as an internal error.
    if (key.publicKey instanceof Error) throw key.publicKey;
    if (!(await hasValidRs256Signature(jws, key.publicKey))) throw authError('bad_signature');

    // Read the clock after the key lookup and the signature check, which may have waited (a fetch, the thread pool).
    const now = config.now();
    checkLifetime(claims, now);
    try {
      checkClaims(claims, key, version);
    } catch (error) {
      if (error instanceof AuthError) error.caller = callerOf(claims);
      throw error;
    }
    const principal = toPrincipal(claims as unknown as VerifiedClaims, version, config.employeeIdClaim);
    if (cacheKey) cache.set(cacheKey, principal, version, kid, claims.exp as number, now);
    if (principal.employeeId === null && principal.kind === 'user' && !employeeIdHintLogged) {
      employeeIdHintLogged = true;
      config.logger.info(
        { event: 'employee_id_claim_absent', claim: config.employeeIdClaim },
        `Tokens carry no '${config.employeeIdClaim}' claim, so employeeId is null. To issue it, add a claims-mapping ` +
          'policy (source user.employeeid) to the API and set acceptMappedClaims or a custom signing key on its app registration',
      );
    }
    return principal;
  }

  /** `exp` is required, `nbf` and `iat` optional; all are NumericDates, and `exp`/`nbf` get the clock skew. */
  function checkLifetime(claims: Claims, now: number): void {
    const { exp, nbf, iat } = claims;
    if (!isNumericDate(exp)) throw authError('missing_claims', "'exp' is missing or not a number");
    if (nbf !== undefined && !isNumericDate(nbf)) throw authError('missing_claims', "'nbf' is not a number");
    if (iat !== undefined && !isNumericDate(iat)) throw authError('missing_claims', "'iat' is not a number");
    const seconds = now / 1000;
    if (exp + config.clockSkewSeconds <= seconds) throw authError('expired');
    if (nbf !== undefined && nbf - config.clockSkewSeconds > seconds) throw authError('not_yet_valid');
  }

  function checkClaims(claims: Claims, key: ResolvedKey, version: TokenVersion): void {
    const tid = claims.tid;
    if (typeof tid !== 'string' || !GUID.test(tid)) throw authError('invalid_tenant');
    const tenant = tid.toLowerCase();
    const expectedIssuer = key.metadata.issuer.replace(TENANT_TEMPLATE, tenant);
    if (claims.iss !== expectedIssuer) throw authError('wrong_issuer', `expected issuer of ${version} metadata`);
    const keyIssuer = key.jwk.issuer;
    if (
      keyIssuer !== undefined &&
      (typeof keyIssuer !== 'string' || keyIssuer.replace(TENANT_TEMPLATE, tenant) !== claims.iss)
    ) {
      throw authError('key_issuer_mismatch');
    }
    if (config.multiTenant ? !config.allowedTenants.includes(tenant) : tenant !== config.tenantId) {
      throw authError('tenant_not_allowed', `tenant ${tenant}`);
    }
    if (!audienceAccepted(claims.aud)) {
      throw new AuthError('wrong_audience', {
        description: `Invalid token audience: request a token for this API (${scopeHint})`,
      });
    }
    checkPermissionClaims(claims);
  }

  function audienceAccepted(aud: unknown): boolean {
    return audienceValues(aud).some((value) => config.audiences.includes(value));
  }

  function checkPermissionClaims(claims: Claims): void {
    const { scp, roles, oid } = claims;
    if (typeof oid !== 'string' || oid === '') throw authError('missing_claims', "'oid' is missing");
    if (scp !== undefined && typeof scp !== 'string') throw authError('missing_claims', "'scp' is not a string");
    if (roles !== undefined && !(Array.isArray(roles) && roles.every((role) => typeof role === 'string'))) {
      throw authError('missing_claims', "'roles' is not an array of strings");
    }
    if (scp === undefined && roles === undefined && !config.allowTokensWithoutPermissions) {
      throw new AuthError('no_permissions', {
        description: `The token carries no scopes or app roles: request an access token for this API (${scopeHint})`,
      });
    }
  }

  return {
    verify,
    ready: () => [...sources.values()].every((source) => source.ready),
    async start() {
      if (!stopped) return;
      stopped = false;
      signatureThread.start();
      await Promise.all([...sources.values()].map((source) => source.refresh()));
      schedule();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    cacheStats: () => cache?.stats() ?? { hits: 0, misses: 0, size: 0 },
    keyAgeSeconds() {
      const ages = [...sources.values()].map((source) => source.ageMs);
      if (ages.some((age) => age === undefined)) return null;
      return Math.max(...(ages as number[])) / 1000;
    },
  };
}

function keySource(config: NormalizedOptions, version: TokenVersion): SigningKeySource {
  const path =
    version === '2.0'
      ? `/${config.tenantId}/v2.0/.well-known/openid-configuration`
      : `/${config.tenantId}/.well-known/openid-configuration`;
  const url = new URL(path, config.authorityHost);
  if (config.appSpecificSigningKeys) url.searchParams.set('appid', config.clientId);
  return new SigningKeySource({
    name: `v${version}`,
    discoveryUrl: url.href,
    cooldownMs: config.keyRefetchCooldownSeconds * 1000,
    maxStaleMs: config.keyMaxStaleSeconds * 1000,
    timeoutMs: config.httpTimeoutMs,
    fetch: config.fetch,
    now: config.now,
    logger: config.logger,
    onKeyFetch: config.onKeyFetch,
  });
}

function checkHeader(header: Claims): void {
  if (header.alg !== 'RS256') throw authError('unsupported_algorithm', `alg ${String(header.alg).slice(0, 16)}`);
  if (typeof header.kid !== 'string' || header.kid === '') throw authError('missing_key_id');
  if (header.crit !== undefined) throw authError('unsupported_header', 'crit header present');
  // Graph signs over a hash of this nonce, so no one but Graph can verify such a token.
  if (header['nonce'] !== undefined) {
    throw new AuthError('graph_token', { detail: 'nonce header' });
  }
}

function callerOf(claims: Claims): { tenantId?: string; appId?: string } {
  const { tid, azp, appid } = claims;
  const appId = typeof azp === 'string' ? azp : typeof appid === 'string' ? appid : undefined;
  return { ...(typeof tid === 'string' ? { tenantId: tid } : {}), ...(appId ? { appId } : {}) };
}

/** `aud` may be one string or an array of them. */
function audienceValues(aud: unknown): readonly string[] {
  return typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((value) => typeof value === 'string') : [];
}

function isGraphAudience(aud: unknown): boolean {
  return audienceValues(aud).some((value) => value === GRAPH_APP_ID || GRAPH_AUDIENCE.test(value));
}

/** The version a token claims, checked against the form of its issuer and the B2C hosts. */
function tokenVersion(claims: Claims): TokenVersion {
  const iss = claims.iss;
  const issuer = typeof iss === 'string' ? parseUrl(iss) : undefined;
  if (typeof iss !== 'string' || !issuer) throw authError('malformed_token', "'iss' is not a URL");
  if (B2C_HOST.test(issuer.hostname) || claims['tfp'] !== undefined) throw authError('unsupported_issuer');
  const ver = claims['ver'];
  if (ver !== '1.0' && ver !== '2.0') throw authError('malformed_token', "'ver' is not 1.0 or 2.0");
  const issuerForm: TokenVersion = /\/v2\.0\/?$/.test(iss) ? '2.0' : '1.0';
  if (issuerForm !== ver) throw authError('version_mismatch', `ver ${ver} with a v${issuerForm} issuer`);
  return ver;
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** One parse where `URL.canParse` and `new URL` would be two (`URL.parse` needs Node 22). */
function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
