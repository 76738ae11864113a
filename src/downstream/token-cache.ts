import type { ICacheClient } from '@azure/msal-node';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../observability/logger';

/**
 * Where msal-node's token cache lives between requests, one entry per partition (a hash of the caller's incoming
 * token): in this process's memory, bounded, and with REDIS_URL also in Redis, shared by every instance. An entry
 * lives as long as the latest token it holds. Redis failing is never an error of the request: a read that fails is
 * a miss (the token is acquired again), a write that fails is dropped; both are counted and logged once per outage.
 */
export interface OboCacheStore extends ICacheClient {
  /**
   * An access token for `scopes` from the partition held in this process's memory, valid for longer than msal-node's
   * renewal offset: what msal-node would answer from the same cache, without building a client to ask it. Undefined
   * sends the caller to msal-node (which also reads Redis, and acquires).
   */
  accessToken(key: string, scopes: readonly string[]): string | undefined;
  close(): Promise<void>;
}

/** msal-node renews a cached token this long before it expires (its default tokenRenewalOffsetSeconds). */
export const RENEWAL_OFFSET_SECONDS = 300;

/** A partition as msal-node serialized it, with its access tokens read once for the fast path. */
interface Entry {
  readonly serialized: string;
  readonly accessTokens: readonly {
    readonly scopes: ReadonlySet<string>;
    readonly secret: string;
    readonly expiresOn: number;
  }[];
  /** Milliseconds to keep it: until its last token expires. */
  readonly ttlMs: number;
}

const KEY_PREFIX = 'obo:v1:';

export function createOboCacheStore(options: {
  readonly maxEntries: number;
  readonly redisUrl: string | undefined;
  readonly logger: Logger;
  readonly onStoreError: () => void;
  readonly now?: () => number;
}): OboCacheStore {
  const now = options.now ?? Date.now;
  const memory = new LRUCache<string, Entry>({ max: options.maxEntries, ttlAutopurge: false, perf: { now } });
  let closing = false;
  let down = false;
  const redis =
    options.redisUrl === undefined
      ? undefined
      : new Redis(options.redisUrl, {
          // Without an offline queue a command fails at once while Redis is away: the request acquires instead.
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          connectTimeout: 2000,
          commandTimeout: 1000,
          // At shutdown: ioredis waits this long for a connection Redis already dropped before it gives up on it.
          disconnectTimeout: 200,
        });
  const failed = (cause: string) => {
    options.onStoreError();
    if (down || closing) return;
    down = true;
    options.logger.warn(
      { event: 'obo_cache_store_unavailable', error: cause },
      'Redis is unreachable: on-behalf-of tokens are cached per instance and acquired again where missing',
    );
  };
  redis?.on('error', () => undefined);
  redis?.on('ready', () => {
    if (!down) return;
    down = false;
    options.logger.info(
      { event: 'obo_cache_store_recovered' },
      'Redis is reachable again: on-behalf-of tokens are shared again',
    );
  });

  const remember = (key: string, entry: Entry | undefined) => {
    if (entry === undefined || entry.ttlMs <= 0) memory.delete(key);
    else memory.set(key, entry, { ttl: entry.ttlMs });
  };

  return {
    accessToken(key, scopes) {
      const entry = memory.get(key);
      if (entry === undefined) return undefined;
      const renewBy = now() / 1000 + RENEWAL_OFFSET_SECONDS;
      const wanted = scopes.map((scope) => scope.toLowerCase());
      return entry.accessTokens.find(
        (token) => token.expiresOn > renewBy && wanted.every((scope) => token.scopes.has(scope)),
      )?.secret;
    },
    async get(key) {
      const remembered = memory.get(key);
      if (remembered !== undefined || !redis) return remembered?.serialized ?? '';
      try {
        const [[, value], [, ttlMs]] = (await redis
          .multi()
          .get(KEY_PREFIX + key)
          .pttl(KEY_PREFIX + key)
          .exec()) as [[null, string | null], [null, number]];
        if (value === null) return '';
        if (ttlMs > 0) remember(key, entryOf(value, now()));
        return value;
      } catch (error) {
        failed((error as Error).message);
        return '';
      }
    },
    async set(key, value) {
      const entry = entryOf(value, now());
      remember(key, entry);
      if (entry === undefined || entry.ttlMs <= 0 || !redis) return '';
      try {
        return await redis.set(KEY_PREFIX + key, value, 'PX', entry.ttlMs);
      } catch (error) {
        failed((error as Error).message);
        return '';
      }
    },
    async close() {
      closing = true;
      memory.clear();
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** A serialized msal-node cache, read: its access tokens, and how long it is worth keeping (its last expiry). */
function entryOf(serialized: string, nowMs: number): Entry | undefined {
  try {
    const cache = JSON.parse(serialized) as {
      AccessToken?: Record<string, { secret?: string; target?: string; expires_on?: string; token_type?: string }>;
    };
    const accessTokens = Object.values(cache.AccessToken ?? {})
      .filter((token) => typeof token.secret === 'string' && (token.token_type ?? 'Bearer').toLowerCase() === 'bearer')
      .map((token) => ({
        scopes: new Set((token.target ?? '').toLowerCase().split(' ').filter(Boolean)),
        secret: token.secret as string,
        expiresOn: Number(token.expires_on),
      }))
      .filter((token) => Number.isFinite(token.expiresOn));
    const latest = Math.max(...accessTokens.map((token) => token.expiresOn));
    return { serialized, accessTokens, ttlMs: Number.isFinite(latest) ? Math.floor(latest * 1000 - nowMs) : 0 };
  } catch {
    return undefined;
  }
}
