import { createPublicKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, customFetch, type JWK } from 'jose';
import { AuthError } from './errors';
import type { AuthLogger, KeyFetchEvent } from './options';

/** What an OpenID discovery document tells us: the issuer (possibly a `{tenantid}` template) and the keys' home. */
export interface OpenIdMetadata {
  readonly issuer: string;
  readonly jwksUri: string;
}

export interface SigningKeySourceOptions {
  /** Name used in logs, e.g. `v2`. */
  readonly name: string;
  readonly discoveryUrl: string;
  /** Minimum time between two refetches, in ms. */
  readonly cooldownMs: number;
  /** Longest time the last good key set is used after refreshes start failing, in ms. */
  readonly maxStaleMs: number;
  /** Time limit of one HTTP request, in ms. */
  readonly timeoutMs: number;
  readonly fetch: typeof fetch;
  readonly now: () => number;
  readonly logger: AuthLogger;
  readonly onKeyFetch: (event: KeyFetchEvent) => void;
}

export interface ResolvedKey {
  readonly metadata: OpenIdMetadata;
  readonly jwk: JWK & { issuer?: unknown };
  /** The key imported once per fetch, or why it cannot be used (a fault of the provider, not of the caller). */
  readonly publicKey: KeyObject | Error;
}

/** RS256 needs an RSA key of at least 2048 bits, published for signatures. */
const MIN_RSA_BITS = 2048;

type RemoteKeySet = ReturnType<typeof createRemoteJWKSet>;

/**
 * The metadata and signing keys of one discovery document.
 *
 * jose fetches and parses the key set; its own timers are switched off (infinite cooldown and age) so that this
 * class alone decides when to refetch: once per cooldown for unknown `kid`s however many requests carry them,
 * counting failed attempts too, and never dropping the last good keys until they are older than `maxStaleMs`.
 */
export class SigningKeySource {
  private metadata: OpenIdMetadata | undefined;
  private keySet: RemoteKeySet | undefined;
  private lastSuccessAt: number | undefined;
  private lastAttemptAt: number | undefined;
  private pending: Promise<void> | undefined;
  private failing = false;
  /**
   * The published RS256 signing keys by kid, imported once per fetch: jose's `jwks()` clones the whole set on every
   * call, and importing a key per request would cost more than checking its signature.
   */
  private keysById = new Map<string, Pick<ResolvedKey, 'jwk' | 'publicKey'>>();

  constructor(private readonly options: SigningKeySourceOptions) {}

  /** True while a key set no older than the stale bound is held. */
  get ready(): boolean {
    return this.lastSuccessAt !== undefined && this.options.now() - this.lastSuccessAt <= this.options.maxStaleMs;
  }

  /** Age of the key set in ms, or undefined when keys were never obtained. */
  get ageMs(): number | undefined {
    return this.lastSuccessAt === undefined ? undefined : this.options.now() - this.lastSuccessAt;
  }

  /** Whether `kid` is in a key set that is still usable: a cheap check for remembered verifications. */
  publishes(kid: string): boolean {
    return this.keysById.has(kid) && this.ready;
  }

  get coolingDown(): boolean {
    return this.lastAttemptAt !== undefined && this.options.now() - this.lastAttemptAt < this.options.cooldownMs;
  }

  /** Refetches metadata (until first obtained) and keys; concurrent callers share one attempt. Never throws. */
  refresh(): Promise<void> {
    this.pending ??= this.load().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Finds the key named `kid`, refetching once per cooldown when it is unknown. */
  async resolve(kid: string): Promise<ResolvedKey> {
    if (!this.ready) {
      if (this.pending) await this.pending;
      else if (!this.coolingDown) await this.refresh();
      if (!this.ready)
        throw new AuthError('keys_unavailable', { detail: `${this.options.name} signing keys unavailable` });
    }
    let found = this.find(kid);
    if (!found && !this.coolingDown) {
      await (this.pending ?? this.refresh());
      found = this.find(kid);
    }
    if (!found) throw new AuthError('unknown_key', { detail: `kid not in the ${this.options.name} key set` });
    return found;
  }

  private find(kid: string): ResolvedKey | undefined {
    const key = this.keysById.get(kid);
    if (!key || !this.metadata) return undefined;
    return { metadata: this.metadata, ...key };
  }

  private async load(): Promise<void> {
    this.lastAttemptAt = this.options.now();
    try {
      this.metadata ??= await this.fetchMetadata();
      this.keySet ??= createRemoteJWKSet(new URL(this.metadata.jwksUri), {
        cooldownDuration: Infinity,
        cacheMaxAge: Infinity,
        timeoutDuration: this.options.timeoutMs,
        [customFetch]: this.options.fetch,
      });
      await this.keySet.reload();
      const keys = this.keySet.jwks()?.keys ?? [];
      if (keys.length === 0) throw new Error('the key set holds no keys');
      this.keysById = indexSigningKeys(keys);
      this.lastSuccessAt = this.options.now();
      this.options.onKeyFetch({ source: this.options.name, ok: true });
      if (this.failing)
        this.options.logger.info(
          { event: 'signing_keys_recovered', source: this.options.name },
          'Signing keys refreshed again',
        );
      this.failing = false;
    } catch (error) {
      this.failing = true;
      this.options.onKeyFetch({ source: this.options.name, ok: false });
      const ageMs = this.ageMs;
      this.options.logger.warn(
        {
          event: 'signing_keys_refresh_failed',
          source: this.options.name,
          url: this.metadata?.jwksUri ?? this.options.discoveryUrl,
          keyAgeSeconds: ageMs === undefined ? null : Math.round(ageMs / 1000),
          servingLastGoodKeys: this.ready,
          error: describeFailure(error),
        },
        this.ready ? 'Signing key refresh failed; serving the last good keys' : 'Signing keys are unavailable',
      );
    }
  }

  private async fetchMetadata(): Promise<OpenIdMetadata> {
    const response = await this.options.fetch(this.options.discoveryUrl, {
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(this.options.timeoutMs),
    });
    if (response.status !== 200) throw new Error(`discovery answered HTTP ${response.status}`);
    const document: unknown = await response.json();
    const issuer = field(document, 'issuer');
    const jwksUri = field(document, 'jwks_uri');
    if (!issuer || !jwksUri || !URL.canParse(jwksUri)) throw new Error('discovery document lacks issuer or jwks_uri');
    return { issuer, jwksUri };
  }
}

function field(document: unknown, name: string): string | undefined {
  if (typeof document !== 'object' || document === null) return undefined;
  const value = (document as Record<string, unknown>)[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Keys that may verify RS256 signatures, by kid: RSA, for signatures, RS256 if an `alg` is named, `verify` if
 * `key_ops` is given. Other keys are left out, so a token naming them is refused as signed by an unknown key.
 * The first of two keys with one kid wins; Entra never publishes such a pair.
 */
function indexSigningKeys(keys: readonly JWK[]): Map<string, Pick<ResolvedKey, 'jwk' | 'publicKey'>> {
  const byId = new Map<string, Pick<ResolvedKey, 'jwk' | 'publicKey'>>();
  for (const jwk of keys) {
    if (typeof jwk.kid !== 'string' || byId.has(jwk.kid) || jwk.kty !== 'RSA') continue;
    if ((jwk.use ?? 'sig') !== 'sig' || (jwk.alg ?? 'RS256') !== 'RS256') continue;
    if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) continue;
    byId.set(jwk.kid, { jwk, publicKey: importRsaKey(jwk) });
  }
  return byId;
}

function importRsaKey(jwk: JWK): KeyObject | Error {
  try {
    // Only the public members: a published private exponent must not turn this into a private key.
    const key = createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' });
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) return new Error(`published key ${jwk.kid} has ${bits} bits; RS256 needs ${MIN_RSA_BITS}`);
    return key;
  } catch (error) {
    return new Error(`published key ${jwk.kid} is not a usable RSA public key`, { cause: error });
  }
}

/**
 * The message of a failed fetch with its underlying causes: undici says only "fetch failed" and keeps the reason
 * (DNS, refused, timeout, TLS) in `cause`.
 */
export function describeFailure(error: unknown): string {
  const parts: string[] = [];
  for (let current = error, depth = 0; current !== undefined && depth < 4; depth += 1) {
    // Not `instanceof Error`: an error from another realm (a vm context, a worker) is one too.
    const { message, code, cause } = (typeof current === 'object' && current !== null ? current : {}) as {
      message?: unknown;
      code?: unknown;
      cause?: unknown;
    };
    if (typeof message !== 'string') {
      parts.push(String(current));
      break;
    }
    parts.push(typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message);
    current = cause;
  }
  return parts.join(': ');
}
