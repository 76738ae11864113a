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
 *
 * A token is admitted on its second successful verification only. Tokens seen once (every token, when callers
 * fetch one per request) would otherwise be inserted, survive the young generation and be evicted later, which
 * costs more than it saves (bench/PROFILE.md). The first sighting is noted in a fixed table of hash fingerprints
 * that allocates nothing. A collision there can only delay a token's admission (its sighting was overwritten) or,
 * with equal 32-bit fingerprints, hasten it; what is cached is still only a verified result.
 */
export class VerifiedTokenCache {
  private readonly entries: LRUCache<string, Entry>;
  private readonly seen: Uint32Array;
  private hits = 0;
  private misses = 0;

  constructor(
    maxEntries: number,
    private readonly ttlMs: number,
  ) {
    this.entries = new LRUCache({ max: maxEntries });
    // Four slots per entry keep a first sighting from being overwritten before the token comes back.
    this.seen = new Uint32Array(2 ** Math.ceil(Math.log2(4 * maxEntries)));
  }

  /** A hex SHA-256 of the token; its first 16 digits also place and name the token in the table of sightings. */
  static keyOf(token: string): string {
    return hash('sha256', token, 'hex');
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

  /** Remembers a successful verification if the token was verified before, else notes this first sighting. */
  set(key: string, principal: Principal, version: TokenVersion, kid: string, exp: number, now: number): void {
    const slot = Number.parseInt(key.slice(0, 8), 16) & (this.seen.length - 1);
    // Never 0, which marks an empty slot.
    const fingerprint = (Number.parseInt(key.slice(8, 16), 16) | 1) >>> 0;
    if (this.seen[slot] !== fingerprint) {
      this.seen[slot] = fingerprint;
      return;
    }
    this.entries.set(key, { principal, version, kid, expiresAt: Math.min(now + this.ttlMs, exp * 1000) });
  }

  stats(): TokenCacheStats {
    return { hits: this.hits, misses: this.misses, size: this.entries.size };
  }
}
