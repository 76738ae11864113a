import type { GraphQLError } from 'graphql';
import { subjectKindOf, type AuthError } from '../auth';
import { ErrorCode } from '../graphql/errors';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import type { RateLimitedError } from '../limits/rate-limits';
import type { Context } from '../schema/context';

export interface RequestFacts {
  readonly requestId: string;
  readonly clientAddress: string;
}

/**
 * Security log lines: one per refused credential, permission or budget, with a stable reason code. Never the
 * token or the Authorization header; usernames and names only when `logPii` is on.
 */
export function createAudit(logger: Logger, metrics: Metrics, logPii: boolean) {
  return {
    authFailed(error: AuthError, facts: RequestFacts): void {
      metrics.authFailures.inc({ reason: error.reason });
      const log = error.status === 503 ? logger.error.bind(logger) : logger.warn.bind(logger);
      log(
        {
          event: 'auth_failed',
          reason: error.reason,
          status: error.status,
          detail: error.detail,
          ...facts,
          ...error.caller,
        },
        'Authentication failed',
      );
    },

    /** No token where one is needed before anything runs (a WebSocket's connection_init). */
    tokenMissing(facts: RequestFacts): void {
      metrics.authFailures.inc({ reason: 'missing_token' });
      logger.warn({ event: 'auth_failed', reason: 'missing_token', ...facts }, 'Authentication failed');
    },

    rateLimited(error: RateLimitedError, facts: RequestFacts): void {
      metrics.rateLimited.inc({ limiter: error.limiter });
      logger.warn(
        { event: 'rate_limited', reason: error.limiter, retryAfterSeconds: error.retryAfterSeconds, ...facts },
        'Rate limit reached',
      );
    },

    /** Refusals by the permission rules, and unexpected errors, seen during execution. */
    executionErrors(errors: readonly GraphQLError[], { principal, requestId, clientAddress }: Context): void {
      for (const error of errors) {
        const code = error.extensions['code'];
        if (code === ErrorCode.UNAUTHENTICATED || code === ErrorCode.FORBIDDEN) {
          const reason = String(error.extensions['reason'] ?? code);
          metrics.authFailures.inc({ reason });
          logger.warn(
            {
              event: code === ErrorCode.FORBIDDEN ? 'authorization_failed' : 'auth_failed',
              reason,
              requestId,
              clientAddress,
              path: error.path?.join('.'),
              ...(principal && {
                kind: subjectKindOf(principal),
                tenantId: principal.tenantId,
                appId: principal.appId,
                ...(principal.actedByAgent && { actedByAgent: true }),
                ...(principal.agentBlueprintId !== null && { agentBlueprintId: principal.agentBlueprintId }),
                objectId: principal.objectId,
                ...(logPii && { username: principal.username, name: principal.name }),
              }),
            },
            code === ErrorCode.FORBIDDEN ? 'Permission denied' : 'Authentication required',
          );
        } else if (code === undefined || code === ErrorCode.INTERNAL_SERVER_ERROR) {
          logger.error({ event: 'internal_error', requestId, err: error.originalError ?? error }, 'Unexpected error');
        }
      }
    },
  };
}

export type Audit = ReturnType<typeof createAudit>;
