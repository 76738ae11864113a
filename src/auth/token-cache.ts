import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Principal, TokenVersion } from './principal';

interface Entry {
  readonly principal: Principal;
  readonly version: TokenVersion;
  readonly kid: string;
  /** Epoch ms after which the entry is not used: the earlier of the token's `exp` and the configured time to live. */
  readonly expiresAt: number;
}

export interface TokenCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly size: number;
}

/**
 * Successful verifications, keyed by a SHA-256 of the token (never the token itself). Bounded in count (LRU) and
 * time; an entry is ignored once the token has expired or its signing key has left the key set. Failures are
 * never stored.
 */
export class VerifiedTokenCache {
  private readonly entries: LRUCache<string, Entry>;
  private hits = 0;
  private misses = 0;

  constructor(
    maxEntries: number,
    private readonly ttlMs: number,
  ) {
    this.entries = new LRUCache({ max: maxEntries });
  }

  static keyOf(token: string): string {
    return hash('sha256', token, 'base64url');
  }

  get(
    key: string,
    now: number,
    stillPublished: (version: TokenVersion, kid: string) => boolean,
  ): Principal | undefined {
    const entry = this.entries.get(key);
    if (entry && now < entry.expiresAt && stillPublished(entry.version, entry.kid)) {
      this.hits += 1;
      return entry.principal;
    }
    if (entry) this.entries.delete(key);
    this.misses += 1;
    return undefined;
  }

  set(key: string, principal: Principal, version: TokenVersion, kid: string, exp: number, now: number): void {
    this.entries.set(key, { principal, version, kid, expiresAt: Math.min(now + this.ttlMs, exp * 1000) });
  }

  stats(): TokenCacheStats {
    return { hits: this.hits, misses: this.misses, size: this.entries.size };
  }
}
