import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';

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
   * Waits for one of the address's verification slots (RATE_LIMIT_VERIFICATIONS_IN_FLIGHT per address and
   * process), then throws when the address has spent its failure budget; resolves to the function that gives the
   * slot back. Valid tokens beyond the slots wait their turn rather than fail; forged ones are checked in at most
   * that many at once, so that failures are counted before more of them reach a signature check.
   */
  admitVerification(addressKey: string): Promise<() => void>;
  /** Counts a failed authentication against the address's budget. */
  recordAuthFailure(addressKey: string): Promise<void>;
  /**
   * Spends one request of a verified caller's budget, or throws RateLimitedError. Counters in memory decide at once
   * (undefined, or the error thrown); Redis's answer is a promise (rejected with the error).
   */
  consumeCaller(callerKey: string): Promise<void> | undefined;
  close(): Promise<void>;
}

interface Count {
  /** Points in the current window, this change included. */
  readonly consumed: number;
  readonly msBeforeNext: number;
}

/** Fixed-window counters: `add` adds points to a key atomically and reports the total; `get` only reads it. */
interface Counters {
  add(key: string, points: number): Count | Promise<Count>;
  get(key: string): Count | Promise<Count>;
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

  const slots = new Slots(settings.verificationsInFlight);

  return {
    async admitVerification(addressKey) {
      const release = await slots.take(addressKey);
      try {
        // Read once the slot is taken: the failures of the verifications this one waited for count.
        const count = await failures.get(addressKey);
        if (count.consumed >= settings.authFailures) throw new RateLimitedError('auth_failures', retryAfter(count));
      } catch (error) {
        release();
        throw error;
      }
      return release;
    },
    async recordAuthFailure(addressKey) {
      await failures.add(addressKey, 1);
    },
    consumeCaller(callerKey) {
      const count = callers.add(callerKey, 1);
      const spend = (counted: Count) => {
        if (counted.consumed > settings.callerRequests) {
          throw new RateLimitedError('caller_requests', retryAfter(counted));
        }
      };
      if (count instanceof Promise) return count.then(spend);
      spend(count);
      return undefined;
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
      window = { consumed: 0, resetAt: now + this.windowMs };
      this.windows.set(key, window);
    }
    window.consumed += points;
    return { consumed: window.consumed, msBeforeNext: window.resetAt - now };
  }

  get(key: string, now = Date.now()): Count {
    const window = this.windows.peek(key);
    if (window === undefined || window.resetAt <= now) return { consumed: 0, msBeforeNext: 0 };
    return { consumed: window.consumed, msBeforeNext: window.resetAt - now };
  }
}

/**
 * Slots per key, in one process: at most `size` holders of a key at once, the others waiting in arrival order. A
 * key's entry exists only while it has holders, so the map grows with the verifications in flight, not with the
 * number of addresses ever seen.
 */
class Slots {
  private readonly keys = new Map<string, { held: number; readonly waiting: (() => void)[] }>();

  constructor(private readonly size: number) {}

  take(key: string): Promise<() => void> {
    let entry = this.keys.get(key);
    if (entry === undefined) {
      entry = { held: 0, waiting: [] };
      this.keys.set(key, entry);
    }
    const held = entry;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const next = held.waiting.shift();
      if (next) return next();
      held.held -= 1;
      if (held.held === 0) this.keys.delete(key);
    };
    if (held.held < this.size) {
      held.held += 1;
      return Promise.resolve(release);
    }
    // A waiter inherits the slot of the holder that releases it: `held` does not change.
    return new Promise((resolve) => held.waiting.push(() => resolve(release)));
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

  async get(key: string): Promise<Count> {
    try {
      const result = await this.limiter.get(key);
      return result === null
        ? { consumed: 0, msBeforeNext: 0 }
        : { consumed: result.consumedPoints, msBeforeNext: result.msBeforeNext };
    } catch {
      return this.fallback.get(key);
    }
  }
}

function connect(url: string, logger: Logger, closing: () => boolean): Redis {
  // Without an offline queue a command fails at once while Redis is away, so the in-memory fallback answers.
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    // At shutdown: ioredis waits this long for a connection Redis already dropped before it gives up on it.
    disconnectTimeout: 200,
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
