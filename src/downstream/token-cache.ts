import type { ICacheClient } from '@azure/msal-node';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../logger';

/**
 * Where msal-node's token cache lives between requests, one entry per partition (a hash of the caller's incoming
 * token): in this process's memory, bounded, and with REDIS_URL also in Redis, shared by every instance. An entry
 * lives as long as the latest token it holds. Redis failing is never an error of the request: a read that fails is
 * a miss (the token is acquired again), a write that fails is dropped; both are counted and logged once per outage.
 */
export interface OboCacheStore extends ICacheClient {
  close(): Promise<void>;
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
  const memory = new LRUCache<string, string>({ max: options.maxEntries, ttlAutopurge: false, perf: { now } });
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

  return {
    async get(key) {
      const remembered = memory.get(key);
      if (remembered !== undefined || !redis) return remembered ?? '';
      try {
        const [[, value], [, ttlMs]] = (await redis
          .multi()
          .get(KEY_PREFIX + key)
          .pttl(KEY_PREFIX + key)
          .exec()) as [[null, string | null], [null, number]];
        if (value === null) return '';
        if (ttlMs > 0) memory.set(key, value, { ttl: ttlMs });
        return value;
      } catch (error) {
        failed((error as Error).message);
        return '';
      }
    },
    async set(key, value) {
      const ttlMs = lifetimeMs(value, now());
      if (ttlMs <= 0) {
        memory.delete(key);
        return '';
      }
      memory.set(key, value, { ttl: ttlMs });
      if (!redis) return '';
      try {
        return await redis.set(KEY_PREFIX + key, value, 'PX', ttlMs);
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

/** How long a serialized msal-node cache is worth keeping: until its last access token expires. */
function lifetimeMs(serialized: string, nowMs: number): number {
  try {
    const cache = JSON.parse(serialized) as { AccessToken?: Record<string, { expires_on?: string }> };
    const expiries = Object.values(cache.AccessToken ?? {}).map((token) => Number(token.expires_on) * 1000);
    const latest = Math.max(...expiries.filter(Number.isFinite));
    return Number.isFinite(latest) ? Math.floor(latest - nowMs) : 0;
  } catch {
    return 0;
  }
}
