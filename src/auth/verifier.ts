import { MAX_AUTHORIZATION_LENGTH } from './bearer';
import { AuthError, authError } from './errors';
import { hasValidRs256Signature, parseCompactJws } from './jws';
import { GUID, normalizeOptions, type NormalizedOptions, type TenantType, type VerifierOptions } from './options';
import { toPrincipal, type CallerKind, type Principal, type TokenVersion, type VerifiedClaims } from './principal';
import { signatureThread } from './signature-thread';
import { SigningKeySource, type ResolvedKey } from './signing-keys';
import { VerifiedTokenCache, type TokenCacheStats } from './token-cache';

export interface TokenVerifier {
  /** Verifies an access token and returns the caller, or throws an AuthError. */
  verify(token: string): Promise<Principal>;
  /**
   * The caller of a token verified before and remembered (still valid, its key still published), with no other
   * work; undefined otherwise. With `verifyFresh` it lets an API do something between the two, such as spending a
   * budget only on the tokens that need a signature check.
   */
  cached(token: string): Principal | undefined;
  /** `verify` without the cache lookup, for a token `cached` did not know. */
  verifyFresh(token: string): Promise<Principal>;
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
const B2C_HOST = /(\.|^)b2clogin\.com$/i;
const EXTERNAL_ID_HOST = /(\.|^)ciamlogin\.com$/i;
const TENANT_TEMPLATE = '{tenantid}';

/** Decoded JSON of a token header or payload. */
type Claims = Record<string, unknown>;

export function createTokenVerifier(options: VerifierOptions): TokenVerifier {
  const config = normalizeOptions(options);
  const sources = new Map<TokenVersion, SigningKeySource>(
    config.acceptedVersions.map((version) => [version, keySource(config, version)]),
  );
  const scopeHint = `api://${config.clientId}/.default`;
  const audiences = new Set(config.audiences.map(normalizeAudience));
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

  function cached(token: string): Principal | undefined {
    if (!cache || token.length > MAX_AUTHORIZATION_LENGTH) return undefined;
    return cache.lookup(token, config.now(), stillPublished);
  }

  async function verifyFresh(token: string): Promise<Principal> {
    // Everything before the signature check reads unverified data: it may only refuse a token or pick its key.
    if (token.length > MAX_AUTHORIZATION_LENGTH) throw authError('token_too_large');
    const jws = parseCompactJws(token);
    const { header, payload: claims } = jws;
    const kid = keyIdOf(header);
    if (isGraphAudience(claims.aud)) {
      throw new AuthError('graph_token', {
        description: `This is a Microsoft Graph token, which only Graph can validate: request a token for this API (${scopeHint})`,
        detail: 'Graph audience',
      });
    }
    const version = tokenVersion(claims, config.tenantType);
    const source = sources.get(version);
    if (!source) throw authError('version_not_accepted', `version ${version} is not accepted`);
    // The lifetime is checked before any key or signature work: an expired token is refused at no cost, which is
    // why a client retrying with its own expired token does not spend its address's failure budget.
    const now = config.now();
    checkLifetime(claims, now);
    const key = await source.resolve(kid);
    // A published key that cannot be used is the provider's fault: it surfaces as an internal error.
    if (key.publicKey instanceof Error) throw key.publicKey;
    if (!(await hasValidRs256Signature(jws, key.publicKey))) throw authError('bad_signature');

    let kind: CallerKind;
    try {
      kind = checkClaims(claims, key, version);
    } catch (error) {
      if (error instanceof AuthError) error.caller = callerOf(claims);
      throw error;
    }
    const principal = toPrincipal(
      claims as unknown as VerifiedClaims,
      kind,
      version,
      config.employeeIdClaim,
      config.tenantType === 'external',
    );
    cache?.remember(token, principal, version, kid, claims.exp as number, now);
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

  /** The checks that need a verified signature; returns whether the caller is a user or an app. */
  function checkClaims(claims: Claims, key: ResolvedKey, version: TokenVersion): CallerKind {
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
    return checkCaller(claims, version);
  }

  function audienceAccepted(aud: unknown): boolean {
    return audienceValues(aud).some((value) => audiences.has(normalizeAudience(value)));
  }

  /**
   * Only access tokens, and apps only when the token says so. An access token names its client application
   * (`azp` in v2, `appid` in v1); an ID token does not. The kind follows Microsoft's documented test: `idtyp` when
   * present, else a token with `scp` is delegated and one without `scp` whose `oid` equals its `sub` is app-only
   * (both absent in a few v1 app tokens for apps without a service principal). Anything else is refused rather than
   * guessed, so a user's app-role assignments can never pass for an app's permissions.
   */
  function checkCaller(claims: Claims, version: TokenVersion): CallerKind {
    const { scp, roles, oid, sub, idtyp } = claims;
    const appId = version === '2.0' ? claims['azp'] : claims['appid'];
    if (typeof appId !== 'string' || appId === '') {
      throw authError('not_access_token', `no '${version === '2.0' ? 'azp' : 'appid'}' claim`);
    }
    if (scp !== undefined && typeof scp !== 'string') throw authError('missing_claims', "'scp' is not a string");
    if (roles !== undefined && !(Array.isArray(roles) && roles.every((role) => typeof role === 'string'))) {
      throw authError('missing_claims', "'roles' is not an array of strings");
    }
    if (oid !== undefined && (typeof oid !== 'string' || oid === '')) {
      throw authError('missing_claims', "'oid' is not a string");
    }
    if (sub !== undefined && typeof sub !== 'string') throw authError('missing_claims', "'sub' is not a string");
    const kind = callerKind(scp, oid, sub, idtyp);
    if (kind === undefined) throw authError('unknown_caller_type', `idtyp ${typeof idtyp}, scp ${typeof scp}`);
    if (kind === 'user' && oid === undefined) throw authError('missing_claims', "'oid' is missing");
    if (kind === 'app' && roles === undefined && !config.allowTokensWithoutPermissions) {
      throw new AuthError('no_permissions', {
        description: `The token carries no scopes or app roles: request an access token for this API (${scopeHint})`,
      });
    }
    return kind;
  }

  return {
    verify: (token) => {
      const remembered = cached(token);
      return remembered ? Promise.resolve(remembered) : verifyFresh(token);
    },
    cached,
    verifyFresh,
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

/**
 * Checks the header and returns the id of the signing key: `kid`, or for tokens issued before 2016, which named
 * their key only by `x5t`, the `x5t` (Entra's key sets then gave each key a `kid` equal to its `x5t`).
 */
function keyIdOf(header: Claims): string {
  const { alg, kid, x5t } = header;
  if (alg !== 'RS256') {
    throw authError('unsupported_algorithm', typeof alg === 'string' ? `alg ${alg.slice(0, 16)}` : `alg ${typeof alg}`);
  }
  if (header.crit !== undefined) throw authError('unsupported_header', 'crit header present');
  // Graph signs over a hash of this nonce, so no one but Graph can verify such a token.
  if (header['nonce'] !== undefined) {
    throw new AuthError('graph_token', { detail: 'nonce header' });
  }
  if (typeof kid === 'string' && kid !== '') return kid;
  if (kid === undefined && typeof x5t === 'string' && x5t !== '') return x5t;
  throw authError('missing_key_id');
}

function callerKind(scp: unknown, oid: unknown, sub: unknown, idtyp: unknown): CallerKind | undefined {
  if (idtyp === 'app') return scp === undefined ? 'app' : undefined;
  if (idtyp === 'user') return scp === undefined ? undefined : 'user';
  if (idtyp !== undefined) return undefined;
  if (scp !== undefined) return 'user';
  return oid === sub ? 'app' : undefined;
}

// Client ids and tenant ids are GUIDs, which compare without regard to case, also inside an App ID URI.
const GUID_AUDIENCE = /^(api:\/\/)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\/?$/i;

function normalizeAudience(value: string): string {
  return GUID_AUDIENCE.test(value) ? value.toLowerCase() : value;
}

/** Who a correctly signed token names, for the log of its refusal (an agent's blueprint with it). */
function callerOf(claims: Claims): NonNullable<AuthError['caller']> {
  const { tid, azp, appid, xms_par_app_azp: blueprint } = claims;
  const appId = typeof azp === 'string' ? azp : typeof appid === 'string' ? appid : undefined;
  return {
    ...(typeof tid === 'string' ? { tenantId: tid } : {}),
    ...(appId ? { appId } : {}),
    ...(typeof blueprint === 'string' && blueprint !== '' ? { agentBlueprintId: blueprint } : {}),
  };
}

/** `aud` may be one string or an array of them. */
function audienceValues(aud: unknown): readonly string[] {
  return typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((value) => typeof value === 'string') : [];
}

function isGraphAudience(aud: unknown): boolean {
  return audienceValues(aud).some((value) => value === GRAPH_APP_ID || GRAPH_AUDIENCE.test(value));
}

/**
 * The version a token claims, checked against the form of its issuer; B2C tokens, and External ID tokens when the
 * tenant is a workforce one, are refused by name. An External ID tenant's issuer is not recognised by its host (a
 * custom URL domain has any host): its discovery document names it, and checkClaims holds the token to it.
 */
function tokenVersion(claims: Claims, tenantType: TenantType): TokenVersion {
  const iss = claims.iss;
  const issuer = typeof iss === 'string' ? parseUrl(iss) : undefined;
  if (typeof iss !== 'string' || !issuer) throw authError('malformed_token', "'iss' is not a URL");
  // B2C tokens name their policy in `tfp`, or in `acr` (`b2c_1_...`) in those issued under the old issuer form.
  if (B2C_HOST.test(issuer.hostname) || claims['tfp'] !== undefined || isB2cPolicy(claims['acr'])) {
    throw authError('b2c_not_supported');
  }
  if (tenantType === 'workforce' && EXTERNAL_ID_HOST.test(issuer.hostname)) throw authError('unsupported_issuer');
  const ver = claims['ver'];
  if (ver !== '1.0' && ver !== '2.0') throw authError('malformed_token', "'ver' is not 1.0 or 2.0");
  const issuerForm: TokenVersion = /\/v2\.0\/?$/.test(iss) ? '2.0' : '1.0';
  if (issuerForm !== ver) throw authError('version_mismatch', `ver ${ver} with a v${issuerForm} issuer`);
  return ver;
}

function isB2cPolicy(acr: unknown): boolean {
  return typeof acr === 'string' && /^b2c_/i.test(acr);
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
