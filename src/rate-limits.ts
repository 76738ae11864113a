import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
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
  /** Throws when this client address has failed authentication too often: checked before any signature work. */
  assertNotBlocked(clientAddress: string): Promise<void>;
  recordAuthFailure(clientAddress: string): Promise<void>;
  /** Spends one request of a verified caller's budget, or throws. */
  consumeCaller(callerKey: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * In memory by default. With a Redis URL the budgets live in Redis and are shared by every instance; while Redis
 * is unreachable each instance falls back to its own in-memory budget (never refusing everyone) and says so in the log.
 */
export function createRateLimits(settings: Config['rateLimits'], logger: Logger): RateLimits {
  let closing = false;
  const redis = settings.redisUrl ? connect(settings.redisUrl, logger, () => closing) : undefined;
  const limiter = (keyPrefix: string, points: number, duration: number): RateLimiterAbstract => {
    const memory = new RateLimiterMemory({ keyPrefix, points, duration });
    return redis
      ? new RateLimiterRedis({
          storeClient: redis,
          keyPrefix: `rl:${keyPrefix}`,
          points,
          duration,
          insuranceLimiter: memory,
        })
      : memory;
  };
  const failures = limiter('auth_failures', settings.authFailures, settings.authFailuresWindowSeconds);
  const callers = limiter('caller_requests', settings.callerRequests, settings.callerWindowSeconds);

  return {
    async assertNotBlocked(clientAddress) {
      const state = await failures.get(clientAddress);
      if (state && state.consumedPoints >= settings.authFailures) {
        throw new RateLimitedError('auth_failures', retryAfter(state));
      }
    },
    async recordAuthFailure(clientAddress) {
      await failures.penalty(clientAddress, 1);
    },
    async consumeCaller(callerKey) {
      try {
        await callers.consume(callerKey, 1);
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) throw new RateLimitedError('caller_requests', retryAfter(rejection));
        throw rejection;
      }
    },
    async close() {
      if (!redis) return;
      closing = true;
      redis.disconnect();
    },
  };
}

function retryAfter(state: RateLimiterRes): number {
  return Math.max(1, Math.ceil(state.msBeforeNext / 1000));
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
