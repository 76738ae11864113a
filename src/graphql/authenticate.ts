import {
  AuthError,
  extractBearerToken,
  subjectKindOf,
  type AuthReason,
  type Principal,
  type TokenVerifier,
} from '../auth';
import { inSpan, setActiveSpanAttribute, SpanKind, tracingEnabled } from '../observability/tracing';
import type { createAudit, RequestFacts } from '../observability/audit';
import { budgetKeyOf } from '../http/client-address';
import type { Logger } from '../observability/logger';
import { RateLimitedError, type RateLimits } from '../limits/rate-limits';

/** Authenticating failed for a reason of the server's own (already logged): the caller gets an internal error. */
export class AuthenticationInternalError extends Error {
  constructor() {
    super('Unexpected error while authenticating');
  }
}

export interface Authenticator {
  /**
   * The caller of an HTTP request or a WebSocket connection, from its Authorization value(s); null when there is
   * none. Throws AuthError or RateLimitedError, audited and with the address budget accounted for, or
   * AuthenticationInternalError, logged. Mapping these to an answer is errors.ts's job.
   */
  authenticate(authorization: string | string[] | undefined, facts: RequestFacts): Promise<Principal | null>;
  /** Spends one request of a verified caller's budget (each operation on a socket); throws RateLimitedError. */
  consumeCaller(principal: Principal, facts: RequestFacts): Promise<void>;
}

// The spelling of the scheme every client library sends; other spellings are parsed in full.
const BEARER = 'Bearer ';
// What a b64token (RFC 6750) may begin and end with: a token without spaces around it parses to itself.
const TOKEN_EDGE = /[A-Za-z0-9\-._~+/=]/;

/**
 * The token of `Bearer <token>` when nothing surrounds it, which the full parse would return unchanged (or refuse,
 * and a refused token is never in the cache); '' for any other header. So a cache lookup of it is the lookup the
 * full parse would make, and a miss need not be looked up again.
 */
function asSent(authorization: string): string {
  if (!authorization.startsWith(BEARER) || authorization.length === BEARER.length) return '';
  const token = authorization.slice(BEARER.length);
  return TOKEN_EDGE.test(token[0] as string) && TOKEN_EDGE.test(token[token.length - 1] as string) ? token : '';
}

/**
 * Refusals that do not spend an address's failure budget: a client retrying with its own expired token, a clock
 * off by more than the skew, or a scheme other than Bearer is not guessing tokens, and each of them is refused
 * before any signature check (the lifetime is checked first), so leaving them uncounted costs no CPU.
 */
export const NOT_GUESSING: ReadonlySet<AuthReason> = new Set(['expired', 'not_yet_valid', 'unsupported_scheme']);

/**
 * One way to turn credentials into a caller, for every transport. A token verified before and remembered passes
 * without touching the address's budget, so neighbours behind one NAT address who spend it cannot lock out a caller
 * already known. Any other token waits for one of the address's verification slots (a few at once per address),
 * is refused when the address has spent its failure budget, and is verified; a failure that looks like guessing
 * (not `NOT_GUESSING`) is counted before the slot is given back, so the verifications waiting see it. Of forged
 * tokens arriving together from one address, at most the budget plus the slots (less one) reach a signature check
 * in each process; valid tokens are never refused for arriving together, only queued.
 */
export function createAuthenticator(
  verifier: TokenVerifier,
  limits: RateLimits,
  audit: ReturnType<typeof createAudit>,
  logger: Logger,
): Authenticator {
  async function consumeCaller(principal: Principal, facts: RequestFacts): Promise<void> {
    try {
      await limits.consumeCaller(callerKey(principal));
    } catch (error) {
      if (error instanceof RateLimitedError) audit.rateLimited(error, facts);
      throw error;
    }
  }

  const tracing = tracingEnabled();

  /**
   * With telemetry on, a span per request: whether the verified-token cache knew the token, the caller's kind, and
   * on a refusal its reason code; never the token or a claim naming a person.
   */
  function authenticate(authorization: string | string[] | undefined, facts: RequestFacts): Promise<Principal | null> {
    if (!tracing) return authenticateNow(authorization, facts);
    return inSpan('verify access token', SpanKind.INTERNAL, {}, async (span) => {
      const principal = await authenticateNow(authorization, facts);
      span.setAttribute('entra.caller.kind', principal === null ? 'anonymous' : subjectKindOf(principal));
      return principal;
    });
  }

  /**
   * A token the cache remembers, sent as clients send it (`Bearer <token>`), is the caller at once: its header was
   * parsed when the token was first verified, and with the budgets counted in memory nothing is awaited between
   * the header and the answer. Any other header takes the whole way.
   */
  function authenticateNow(
    authorization: string | string[] | undefined,
    facts: RequestFacts,
  ): Promise<Principal | null> {
    const candidate = typeof authorization === 'string' ? asSent(authorization) : '';
    const principal = candidate === '' ? undefined : verifier.cached(candidate);
    if (principal === undefined) return authenticateFully(authorization, facts, candidate);
    if (tracing) setActiveSpanAttribute('entra.token.cache', 'hit');
    try {
      const spending = limits.consumeCaller(callerKey(principal));
      if (spending === undefined) return Promise.resolve(principal);
      return spending.then(
        () => principal,
        (error: unknown) => refused(error, facts, budgetKeyOf(facts.clientAddress), undefined),
      );
    } catch (error) {
      return refused(error, facts, budgetKeyOf(facts.clientAddress), undefined);
    }
  }

  /** `missed`: a token the cache was just asked about and did not know. */
  async function authenticateFully(
    authorization: string | string[] | undefined,
    facts: RequestFacts,
    missed: string,
  ): Promise<Principal | null> {
    const budgetKey = budgetKeyOf(facts.clientAddress);
    let release: (() => void) | undefined;
    try {
      const token = extractBearerToken(authorization);
      if (token === undefined) return null;
      let principal = token === missed ? undefined : verifier.cached(token);
      if (tracing) setActiveSpanAttribute('entra.token.cache', principal === undefined ? 'miss' : 'hit');
      if (principal === undefined) {
        release = await limits.admitVerification(budgetKey);
        principal = await verifier.verifyFresh(token);
        release();
        release = undefined;
      }
      await limits.consumeCaller(callerKey(principal));
      return principal;
    } catch (error) {
      return refused(error, facts, budgetKey, release);
    }
  }

  /** Audits or logs why authenticating failed, and throws what errors.ts maps to an answer. */
  async function refused(
    error: unknown,
    facts: RequestFacts,
    budgetKey: string,
    release: (() => void) | undefined,
  ): Promise<never> {
    // A refused admission holds no slot, and the caller's budget is spent after the slot is given back.
    if (error instanceof RateLimitedError) {
      audit.rateLimited(error, facts);
      throw error;
    }
    const guessing = error instanceof AuthError && error.status !== 503 && !NOT_GUESSING.has(error.reason);
    try {
      if (guessing) await limits.recordAuthFailure(budgetKey);
    } finally {
      release?.();
    }
    if (!(error instanceof AuthError)) {
      logger.error({ event: 'internal_error', ...facts, err: error }, 'Unexpected error while authenticating');
      throw new AuthenticationInternalError();
    }
    audit.authFailed(error, facts);
    throw error;
  }

  return { authenticate, consumeCaller };
}

/** Whose budget a request spends: the user (tenant + object id) or the calling app. */
export function callerKey(principal: Principal): string {
  return principal.kind === 'app'
    ? `app:${principal.tenantId}:${principal.appId}`
    : `user:${principal.tenantId}:${principal.objectId}`;
}
