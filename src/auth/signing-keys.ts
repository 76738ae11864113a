import { createRemoteJWKSet, customFetch, type JWK, type JWTVerifyGetKey } from 'jose';
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
  /** Key lookup for jose's verify functions, backed by the same key set. */
  readonly getKey: JWTVerifyGetKey;
}

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
  /** The published keys by kid, copied once per fetch (jose's `jwks()` clones the whole set on every call). */
  private keysById = new Map<string, JWK>();

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
    const jwk = this.keysById.get(kid);
    if (!jwk || !this.metadata || !this.keySet) return undefined;
    return { metadata: this.metadata, jwk, getKey: this.keySet };
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
      this.keysById = new Map(keys.flatMap((key) => (typeof key.kid === 'string' ? [[key.kid, key] as const] : [])));
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
          error: error instanceof Error ? error.message : String(error),
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
