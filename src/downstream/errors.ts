/** Why a call to another API on the caller's behalf failed; errors.ts turns each into a GraphQL error. */
export type DownstreamFailure =
  /** No credential is configured: on-behalf-of calls are off. */
  | 'not_configured'
  /** The caller is an application: there is no user to act for. */
  | 'user_required'
  /** The user or an administrator has not consented to the permission (AADSTS65001). */
  | 'consent_required'
  /** Entra ID wants the user to sign in again. */
  | 'interaction_required'
  /** The incoming token expired for Entra ID (AADSTS500133), though still within this API's clock skew. */
  | 'assertion_expired'
  /** A claims challenge (Conditional Access, MFA): the client must get a token satisfying `claims`. */
  | 'insufficient_claims'
  /** Throttled (429/503 with Retry-After) beyond the retry budget. */
  | 'throttled'
  /** No answer in time, no connection, or a server error. */
  | 'unavailable'
  /** Refused for a reason of the API's own (its credential, its permissions): the log says which. */
  | 'refused';

export type DownstreamService = 'token_endpoint' | 'graph';

export class DownstreamError extends Error {
  override readonly name = 'DownstreamError';
  constructor(
    readonly failure: DownstreamFailure,
    readonly service: DownstreamService | null,
    readonly details: {
      /** The permission(s) to consent to (consent_required). */
      readonly scope?: string;
      /** The claims the new token must satisfy, as the JSON Entra ID sent (insufficient_claims). */
      readonly claims?: string;
      /** Where the client signs the user in again (insufficient_claims). */
      readonly authorizationUri?: string;
      readonly retryAfterSeconds?: number;
    } = {},
  ) {
    super(`${service ?? 'downstream'}: ${failure}`);
  }
}
