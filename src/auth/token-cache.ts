import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Principal, TokenVersion } from './principal';

interface Entry {
  readonly principal: Principal;
  readonly version: TokenVersion;
  readonly kid: string;
  /** Epoch ms after which the entry is not used: the earlier of the token's `exp` and the configured time to live. */
  readonly expiresAt: number;
  readonly tail: string;
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
 * costs more than it saves (bench/PROFILE.md). The first sighting is noted in a fixed table of fingerprints that
 * allocates nothing. A collision there can only delay a token's admission (its sighting was overwritten) or, with
 * equal 32-bit fingerprints, hasten it; what is cached is still only a verified result.
 *
 * Neither a lookup nor a first sighting hashes the token. The fingerprints, and the set of the cached tokens' tails,
 * are made of the token's last characters, which lie in its signature: a lookup hashes only a token whose tail is
 * a cached token's, and a forged token with a borrowed tail costs only that hash, since the entry is found by the
 * SHA-256 of the whole token (bench/PROFILE.md, ninth pass).
 */
export class VerifiedTokenCache {
  private readonly entries: LRUCache<string, Entry>;
  private readonly seen: Uint32Array;
  /** The tails of the cached tokens, with how many entries have each. */
  private readonly tails = new Map<string, number>();
  private hits = 0;
  private misses = 0;

  constructor(
    maxEntries: number,
    private readonly ttlMs: number,
  ) {
    this.entries = new LRUCache({
      max: maxEntries,
      // Every way out of the cache (eviction, deletion, replacement) forgets the entry's tail.
      dispose: (entry) => {
        const count = this.tails.get(entry.tail) ?? 1;
        if (count === 1) this.tails.delete(entry.tail);
        else this.tails.set(entry.tail, count - 1);
      },
    });
    // Four slots per entry keep a first sighting from being overwritten before the token comes back.
    this.seen = new Uint32Array(2 ** Math.ceil(Math.log2(4 * maxEntries)));
  }

  /** A hex SHA-256 of the token: the key of its entry. */
  static keyOf(token: string): string {
    return hash('sha256', token, 'hex');
  }

  lookup(
    token: string,
    now: number,
    stillPublished: (version: TokenVersion, kid: string) => boolean,
  ): Principal | undefined {
    if (!this.tails.has(tailOf(token))) {
      this.misses += 1;
      return undefined;
    }
    const key = VerifiedTokenCache.keyOf(token);
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
  remember(token: string, principal: Principal, version: TokenVersion, kid: string, exp: number, now: number): void {
    const tail = tailOf(token);
    // Two FNV-1a hashes of the tail: one places the sighting, the other names it (never 0, which marks an empty slot).
    let place = 0x811c9dc5;
    let name = 0x01000193;
    for (let i = 0; i < tail.length; i += 1) {
      const code = tail.charCodeAt(i);
      place = Math.imul(place ^ code, 0x01000193);
      name = Math.imul(name ^ code, 0x811c9dc5);
    }
    const slot = place & (this.seen.length - 1);
    const fingerprint = (name | 1) >>> 0;
    if (this.seen[slot] !== fingerprint) {
      this.seen[slot] = fingerprint;
      return;
    }
    const key = VerifiedTokenCache.keyOf(token);
    // After set(), which disposes of any entry it replaces or evicts, and so of its tail, first.
    this.entries.set(key, { principal, version, kid, tail, expiresAt: Math.min(now + this.ttlMs, exp * 1000) });
    this.tails.set(tail, (this.tails.get(tail) ?? 0) + 1);
  }

  stats(): TokenCacheStats {
    return { hits: this.hits, misses: this.misses, size: this.entries.size };
  }
}

/** A token's last characters: its signature's, for a signed token. */
const TAIL_LENGTH = 16;
const tailOf = (token: string) => token.slice(-TAIL_LENGTH);
