import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { Config } from './config';
import type { Logger } from './logger';

export type Limiter = 'auth_failures' | 'caller_requests';

/** A budget is spent; `retryAfterSeconds` says when the next attempt can pass. */
export class RateLimitedError extends Error {
  override readonly name = 'RateLimitedError';
  constructor(
    readonly limiter: Limiter,
    readonly retryAfterSeconds: number,
  ) {
    super(`rate limit ${limiter} reached`);
  }
}

export interface RateLimits {
  /**
   * Takes one of a client address's verification slots, or throws when none is left. A slot stays taken by a
   * verification in flight and by a failed one, so the budget bounds both at once: however many forged tokens
   * arrive together, at most the budget of them reach a signature check.
   */
  reserveVerification(addressKey: string): Promise<void>;
  /** Gives a slot back: the token was valid, or was refused for a reason that is no sign of guessing. */
  releaseVerification(addressKey: string): Promise<void>;
  /** Counts a failure that took no slot (a malformed Authorization header). */
  recordAuthFailure(addressKey: string): Promise<void>;
  /** Spends one request of a verified caller's budget, or throws. */
  consumeCaller(callerKey: string): Promise<void>;
  close(): Promise<void>;
}

interface Count {
  /** Points in the current window, this change included. */
  readonly consumed: number;
  readonly msBeforeNext: number;
}

/** Fixed-window counters: `add` changes a key's points (negative to give back) atomically and reports the total. */
interface Counters {
  add(key: string, points: number): Count | Promise<Count>;
}

/**
 * In memory by default. With a Redis URL the counters live in Redis and are shared by every instance; while Redis
 * is unreachable each instance falls back to its own counters in memory (never refusing everyone) and says so in
 * the log. The counters in memory are bounded (`maxTrackedKeys`, least recently used first out), so a flood of
 * distinct addresses cannot grow the process without limit.
 */
export function createRateLimits(settings: Config['rateLimits'], logger: Logger): RateLimits {
  let closing = false;
  const redis = settings.redisUrl ? connect(settings.redisUrl, logger, () => closing) : undefined;
  const counters = (keyPrefix: string, windowSeconds: number): Counters => {
    const memory = new MemoryCounters(windowSeconds * 1000, settings.maxTrackedKeys);
    return redis ? new RedisCounters(redis, `rl:${keyPrefix}`, windowSeconds, memory) : memory;
  };
  const failures = counters('auth_failures', settings.authFailuresWindowSeconds);
  const callers = counters('caller_requests', settings.callerWindowSeconds);

  return {
    async reserveVerification(addressKey) {
      const count = await failures.add(addressKey, 1);
      if (count.consumed <= settings.authFailures) return;
      // A refused reservation holds no slot: only failures and verifications in flight do.
      await failures.add(addressKey, -1);
      throw new RateLimitedError('auth_failures', retryAfter(count));
    },
    async releaseVerification(addressKey) {
      await failures.add(addressKey, -1);
    },
    async recordAuthFailure(addressKey) {
      await failures.add(addressKey, 1);
    },
    async consumeCaller(callerKey) {
      const count = await callers.add(callerKey, 1);
      if (count.consumed > settings.callerRequests) throw new RateLimitedError('caller_requests', retryAfter(count));
    },
    async close() {
      if (!redis) return;
      closing = true;
      redis.disconnect();
    },
  };
}

function retryAfter(count: Count): number {
  return Math.max(1, Math.ceil(count.msBeforeNext / 1000));
}

interface Window {
  consumed: number;
  readonly resetAt: number;
}

/** Counters of one process, at most `maxKeys` of them: lru-cache keeps no timer per key. */
class MemoryCounters implements Counters {
  private readonly windows: LRUCache<string, Window>;

  constructor(
    private readonly windowMs: number,
    maxKeys: number,
  ) {
    this.windows = new LRUCache({ max: maxKeys });
  }

  add(key: string, points: number, now = Date.now()): Count {
    let window = this.windows.get(key);
    if (window === undefined || window.resetAt <= now) {
      // Giving back to a window that has ended gives nothing: the new window starts empty.
      if (points < 0) return { consumed: 0, msBeforeNext: 0 };
      window = { consumed: 0, resetAt: now + this.windowMs };
      this.windows.set(key, window);
    }
    window.consumed = Math.max(0, window.consumed + points);
    return { consumed: window.consumed, msBeforeNext: window.resetAt - now };
  }
}

/** Counters shared through Redis (rate-limiter-flexible's atomic increment), falling back to memory. */
class RedisCounters implements Counters {
  private readonly limiter: RateLimiterRedis;

  constructor(
    redis: Redis,
    keyPrefix: string,
    windowSeconds: number,
    private readonly fallback: MemoryCounters,
  ) {
    // `points` is not used as a limit here: `penalty` only adds, and the budget is compared by the caller.
    this.limiter = new RateLimiterRedis({ storeClient: redis, keyPrefix, points: 1, duration: windowSeconds });
  }

  async add(key: string, points: number): Promise<Count> {
    try {
      const result = await this.limiter.penalty(key, points);
      return { consumed: result.consumedPoints, msBeforeNext: result.msBeforeNext };
    } catch {
      return this.fallback.add(key, points);
    }
  }
}

function connect(url: string, logger: Logger, closing: () => boolean): Redis {
  // Without an offline queue a command fails at once while Redis is away, so the in-memory fallback answers.
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
  });
  let down = false;
  const lost = (cause: string) => {
    if (down || closing()) return;
    down = true;
    logger.error(
      { event: 'rate_limit_store_unavailable', error: cause },
      'Redis is unreachable: rate limits fall back to per-instance memory',
    );
  };
  redis.on('error', (error: Error) => lost(error.message));
  redis.on('close', () => lost('connection closed'));
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info({ event: 'rate_limit_store_recovered' }, 'Redis is reachable again: rate limits are shared again');
  });
  return redis;
}
