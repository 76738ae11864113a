/**
 * The closed set of reasons a request's credentials can be refused for. Each reason has one RFC 6750 category
 * and a default description that tells the caller what to change. Descriptions never contain token content.
 */
export type AuthErrorCategory = 'invalid_request' | 'invalid_token' | 'temporarily_unavailable';

interface ReasonInfo {
  /** RFC 6750 error code; null for a scheme other than Bearer, which gets a bare challenge (RFC 6750 §3.1). */
  readonly category: AuthErrorCategory | null;
  readonly status: 400 | 401 | 503;
  readonly description: string;
}

const REASONS = {
  unsupported_scheme: {
    category: null,
    status: 401,
    description: "Authentication required: send an 'Authorization: Bearer <access token>' header",
  },
  invalid_authorization_header: {
    category: 'invalid_request',
    status: 400,
    description: "The Authorization header must hold exactly one credential of the form 'Bearer <access token>'",
  },
  token_too_large: {
    category: 'invalid_request',
    status: 400,
    description: 'The bearer token is larger than any Entra ID access token; send the access token only',
  },
  malformed_token: {
    category: 'invalid_token',
    status: 401,
    description: 'Invalid token format: send an Entra ID access token (a signed JWT)',
  },
  unsupported_algorithm: {
    category: 'invalid_token',
    status: 401,
    description: 'Invalid token: only RS256-signed Entra ID access tokens are accepted',
  },
  missing_key_id: {
    category: 'invalid_token',
    status: 401,
    description: "Invalid token: the header names no signing key ('kid')",
  },
  unsupported_header: {
    category: 'invalid_token',
    status: 401,
    description: 'Invalid token: the header marks an extension this API does not support as critical',
  },
  graph_token: {
    category: 'invalid_token',
    status: 401,
    description: 'This is a Microsoft Graph token, which only Graph can validate: request a token for this API',
  },
  unsupported_issuer: {
    category: 'invalid_token',
    status: 401,
    description:
      'Microsoft Entra External ID tokens are not accepted by this API: request a token from the Entra ID tenant it trusts',
  },
  b2c_not_supported: {
    category: 'invalid_token',
    status: 401,
    description:
      "Azure AD B2C tokens are not accepted: this API trusts Microsoft Entra ID, or Entra External ID (B2C's successor) when configured so (docs/entra-id.md#external-id)",
  },
  version_not_accepted: {
    category: 'invalid_token',
    status: 401,
    description: 'Invalid token version: this API does not accept this access token version',
  },
  version_mismatch: {
    category: 'invalid_token',
    status: 401,
    description: "Invalid token: the 'ver' claim does not match the issuer's token version",
  },
  unknown_key: {
    category: 'invalid_token',
    status: 401,
    description: 'Invalid token: it is signed with a key the identity provider does not publish; request a new token',
  },
  bad_signature: {
    category: 'invalid_token',
    status: 401,
    description: 'Invalid token signature: request a new token from Entra ID',
  },
  key_issuer_mismatch: {
    category: 'invalid_token',
    status: 401,
    description: 'Invalid token: its signing key is not valid for its issuer',
  },
  expired: {
    category: 'invalid_token',
    status: 401,
    description: 'Token has expired: request a new access token',
  },
  not_yet_valid: {
    category: 'invalid_token',
    status: 401,
    description: 'Token is not valid yet: check the clock of the client and request a new token',
  },
  invalid_tenant: {
    category: 'invalid_token',
    status: 401,
    description: "Invalid token: the 'tid' claim is missing or is not a tenant id",
  },
  wrong_issuer: {
    category: 'invalid_token',
    status: 401,
    description: 'Invalid token issuer: request a token from the Entra ID tenant this API trusts',
  },
  tenant_not_allowed: {
    category: 'invalid_token',
    status: 401,
    description: "The caller's tenant is not allowed to use this API",
  },
  wrong_audience: {
    category: 'invalid_token',
    status: 401,
    description: 'Invalid token audience: request a token for this API',
  },
  missing_claims: {
    category: 'invalid_token',
    status: 401,
    description: 'Invalid token: a required claim is missing or has the wrong type',
  },
  not_access_token: {
    category: 'invalid_token',
    status: 401,
    description:
      "Invalid token: it names no client application ('azp' or 'appid'), so it is not an access token (an ID token?); send an access token for this API",
  },
  unknown_caller_type: {
    category: 'invalid_token',
    status: 401,
    description:
      'Invalid token: it is neither a delegated user token (scp) nor an app-only token; request an access token for this API',
  },
  no_permissions: {
    category: 'invalid_token',
    status: 401,
    description: 'The token carries no scopes or app roles: request an access token for this API',
  },
  keys_unavailable: {
    category: 'temporarily_unavailable',
    status: 503,
    description: 'The identity provider is unavailable, so tokens cannot be verified now; retry later',
  },
} as const satisfies Record<string, ReasonInfo>;

export type AuthReason = keyof typeof REASONS;
export const AUTH_REASONS = Object.freeze(Object.keys(REASONS) as AuthReason[]);

/** A refusal of the caller's credentials; `detail` and `cause` are for logs only, never for the client. */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly reason: AuthReason;
  readonly category: AuthErrorCategory | null;
  readonly status: 400 | 401 | 503;
  readonly description: string;
  readonly detail: string | undefined;
  /** Tenant and client app of a token whose signature was valid; for logs. */
  caller: { readonly tenantId?: string; readonly appId?: string; readonly agentBlueprintId?: string } | undefined;

  constructor(reason: AuthReason, options: { description?: string; detail?: string; cause?: unknown }) {
    const info: ReasonInfo = REASONS[reason];
    const description = options.description ?? info.description;
    super(description, { cause: options.cause });
    this.reason = reason;
    this.category = info.category;
    this.status = info.status;
    this.description = description;
    this.detail = options.detail;
  }
}

export function authError(reason: AuthReason, detail?: string, cause?: unknown): AuthError {
  return new AuthError(reason, { detail, cause });
}
