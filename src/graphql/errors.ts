import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import { GraphQLError, type GraphQLFormattedError, type GraphQLSchema, type OperationTypeNode } from 'graphql';
import { CloseCode as Protocol } from 'graphql-ws';
import { AuthError } from '../auth';
import type { DownstreamError } from '../downstream/errors';
import { RateLimitedError } from '../limits/rate-limits';

/**
 * The one place that turns outcomes into GraphQL errors, HTTP statuses and WWW-Authenticate headers (RFC 6750).
 */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  BAD_REQUEST: 'BAD_REQUEST',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
  NOT_FOUND: 'NOT_FOUND',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  RATE_LIMITED: 'RATE_LIMITED',
  // Calls to Microsoft Graph on behalf of the caller (User.profile):
  DOWNSTREAM_NOT_CONFIGURED: 'DOWNSTREAM_NOT_CONFIGURED',
  OBO_USER_REQUIRED: 'OBO_USER_REQUIRED',
  CONSENT_REQUIRED: 'CONSENT_REQUIRED',
  INTERACTION_REQUIRED: 'INTERACTION_REQUIRED',
  INSUFFICIENT_CLAIMS: 'INSUFFICIENT_CLAIMS',
  DOWNSTREAM_THROTTLED: 'DOWNSTREAM_THROTTLED',
  DOWNSTREAM_UNAVAILABLE: 'DOWNSTREAM_UNAVAILABLE',
  DOWNSTREAM_REFUSED: 'DOWNSTREAM_REFUSED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const AUTH_REQUIRED = 'Authentication required: send an Authorization: Bearer <access token> header';

/** `Bearer` with RFC 6750 attributes; values are restricted to the characters the RFC allows. */
export function wwwAuthenticate(attributes: Record<string, string> = {}): string {
  const pairs = Object.entries(attributes).map(
    ([name, value]) => `${name}="${value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '')}"`,
  );
  return pairs.length === 0 ? 'Bearer' : `Bearer ${pairs.join(', ')}`;
}

/** A refused credential, raised from the context function so that the request stops before execution. */
export function authFailure(error: AuthError, retryAfterSeconds: number): GraphQLError {
  const headers = new Map<string, string>();
  let code: ErrorCode;
  if (error.category === 'temporarily_unavailable') {
    code = ErrorCode.SERVICE_UNAVAILABLE;
    headers.set('retry-after', String(retryAfterSeconds));
  } else if (error.category === null) {
    // Another scheme than Bearer: a bare challenge, with no error information (RFC 6750 §3.1).
    code = ErrorCode.UNAUTHENTICATED;
    headers.set('www-authenticate', wwwAuthenticate());
  } else {
    code = error.category === 'invalid_request' ? ErrorCode.BAD_REQUEST : ErrorCode.UNAUTHENTICATED;
    headers.set('www-authenticate', wwwAuthenticate({ error: error.category, error_description: error.description }));
  }
  return new GraphQLError(error.description, {
    extensions: {
      code,
      reason: error.reason,
      // Clients that expose no HTTP headers on errors (Apollo Client 4) read the delay here.
      ...(code === ErrorCode.SERVICE_UNAVAILABLE && { retryAfterSeconds }),
      http: { status: error.status, headers },
    },
  });
}

/** A spent budget: 429 with Retry-After, raised from the context function. */
export function rateLimited(error: RateLimitedError): GraphQLError {
  const message =
    error.limiter === 'auth_failures'
      ? `Too many failed authentications from this address: retry after ${error.retryAfterSeconds} s`
      : `Too many requests: retry after ${error.retryAfterSeconds} s`;
  return new GraphQLError(message, {
    extensions: {
      code: ErrorCode.RATE_LIMITED,
      reason: error.limiter,
      retryAfterSeconds: error.retryAfterSeconds,
      http: { status: 429, headers: new Map([['retry-after', String(error.retryAfterSeconds)]]) },
    },
  });
}

/**
 * A failed authentication (see authenticate.ts) as the GraphQL error that stops an HTTP request: the credential's
 * refusal, a spent budget, or, for anything else, a masked internal error.
 */
export function authenticationFailure(error: unknown, requestId: string, retryAfterSeconds: number): GraphQLError {
  if (error instanceof RateLimitedError) return rateLimited(error);
  if (error instanceof AuthError) return authFailure(error, retryAfterSeconds);
  return internalError(requestId);
}

/**
 * WebSocket close codes (graphql-ws protocol; 4000–4999 are the application's). graphql-ws's client gives up on
 * 4400, 4401 and 4500 and reconnects on the others, calling `connectionParams` again: so a refusal that a new
 * token cures (expired, not yet valid) is 4403, as graphql-ws's own token-refresh recipe does, and one that waiting
 * cures is 1013 (try again later).
 */
export const CloseCode = {
  /** The server is stopping (after its drain period): reconnect, to another instance. */
  GOING_AWAY: 1001,
  /**
   * A socket past one of its own limits: too many messages before connection_init or per second, too many refused
   * operations. graphql-ws's client reconnects after it, as after any code it does not know.
   */
  POLICY_VIOLATION: 1008,
  /** A message over WS_MAX_MESSAGE_BYTES (closed by the ws library). */
  MESSAGE_TOO_BIG: 1009,
  /** A budget is spent or the signing keys are unavailable: reconnect later. */
  TRY_AGAIN_LATER: 1013,
  /** A malformed Authorization value: retrying the same cannot help. */
  BAD_REQUEST: Protocol.BadRequest,
  /** No token, or a token refused: retrying the same cannot help. */
  UNAUTHORIZED: Protocol.Unauthorized,
  /** The token expired (while connected, or before): reconnect with a new token. */
  TOKEN_EXPIRED: Protocol.Forbidden,
  /** No connection_init within WS_CONNECTION_INIT_TIMEOUT_MS (closed by graphql-ws). */
  INIT_TIMEOUT: Protocol.ConnectionInitialisationTimeout,
  /** More sockets than WS_MAX_SOCKETS_PER_CALLER for this caller: reconnect later. */
  TOO_MANY_SOCKETS: 4429,
  INTERNAL_ERROR: Protocol.InternalServerError,
} as const;

/**
 * How a socket whose authentication failed is closed. The reason is the stable reason code (`wrong_audience`,
 * `expired`, `auth_failures` ...), never the token or a description that could echo it; WebSocket close reasons
 * hold at most 123 bytes.
 */
export function socketClose(error: unknown): { code: number; reason: string } {
  if (error instanceof RateLimitedError) return { code: CloseCode.TRY_AGAIN_LATER, reason: error.limiter };
  if (!(error instanceof AuthError)) return { code: CloseCode.INTERNAL_ERROR, reason: 'internal_error' };
  if (error.status === 503) return { code: CloseCode.TRY_AGAIN_LATER, reason: error.reason };
  if (error.reason === 'expired' || error.reason === 'not_yet_valid') {
    return { code: CloseCode.TOKEN_EXPIRED, reason: error.reason };
  }
  if (error.status === 400) return { code: CloseCode.BAD_REQUEST, reason: error.reason };
  return { code: CloseCode.UNAUTHORIZED, reason: error.reason };
}

/**
 * The errors of an operation on a WebSocket, as Apollo Server formats those of HTTP: an unexpected error is masked
 * with the request id, and the `http` extension (status and headers of HTTP answers) is dropped.
 */
export function formatSocketErrors(errors: readonly GraphQLError[], requestId: string): GraphQLFormattedError[] {
  return errors.map((error) => {
    const { http: _http, ...extensions } = error.extensions;
    const code = extensions['code'];
    if (code === undefined || code === ErrorCode.INTERNAL_SERVER_ERROR) {
      return { message: 'Internal server error', extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, requestId } };
    }
    return { ...error.toJSON(), extensions };
  });
}

/**
 * An error graphql-js raised about the request itself (parse, validation, variables), with the code Apollo Server
 * gives it; with `hideSuggestions` (validation errors in production) without the "Did you mean" suggestions that
 * would reveal the schema.
 */
export function requestError(
  error: GraphQLError,
  code: 'GRAPHQL_PARSE_FAILED' | 'GRAPHQL_VALIDATION_FAILED' | 'BAD_USER_INPUT',
  hideSuggestions: boolean,
): GraphQLError {
  const message = hideSuggestions ? error.message.replace(/ ?Did you mean .+\?$/, '') : error.message;
  return new GraphQLError(message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    extensions: { ...error.extensions, code },
  });
}

/** No operation of the document is the one to run (Apollo Server's OPERATION_RESOLUTION_FAILURE). */
export function unresolvedOperation(operationName: string | null | undefined): GraphQLError {
  const message = operationName
    ? `Unknown operation named "${operationName.slice(0, 100)}".`
    : 'Must provide operation name if query contains multiple operations.';
  return new GraphQLError(message, { extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } });
}

/**
 * An operation type the schema has no root for (a mutation here): the client's mistake, refused as a bad request
 * before execution, where graphql-js 16 would fail inside it with an internal error.
 */
export function unsupportedOperation(schema: GraphQLSchema, operation: OperationTypeNode): GraphQLError | undefined {
  if (schema.getRootType(operation)) return undefined;
  return new GraphQLError(`This API has no ${operation} operations`, {
    extensions: { code: ErrorCode.BAD_REQUEST, reason: 'operation_not_supported', http: { status: 400 } },
  });
}

/** An operation sent on a socket that is closing: it does not run. */
export function socketClosing(): GraphQLError {
  return new GraphQLError('The socket is closing: reconnect to run operations', {
    extensions: { code: ErrorCode.BAD_REQUEST, reason: 'socket_closing' },
  });
}

/** An unexpected failure before execution: masked, with the request id to find the log line. */
export function internalError(requestId: string): GraphQLError {
  return new GraphQLError('Internal server error', {
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, requestId, http: { status: 500 } },
  });
}

/** A subscription sent over HTTP: 400, pointing to the WebSocket transport. */
export function subscriptionOverHttp(): GraphQLError {
  return new GraphQLError(
    'Subscriptions are served over WebSocket: connect to /graphql with the graphql-transport-ws protocol',
    { extensions: { code: ErrorCode.BAD_REQUEST, reason: 'subscription_over_http', http: { status: 400 } } },
  );
}

/** No credentials where a verified caller is needed. */
export function unauthenticated(): GraphQLError {
  return new GraphQLError(AUTH_REQUIRED, { extensions: { code: ErrorCode.UNAUTHENTICATED, reason: 'missing_token' } });
}

/** A field no authorization directive covers: denied to every caller (graphql-shield's fallback). */
export function noRule(): GraphQLError {
  return new GraphQLError('Not authorised', { extensions: { code: ErrorCode.FORBIDDEN, reason: 'no_rule' } });
}

/** Why an authorization directive refused a verified caller (see src/authorization/requirements.ts). */
export type RefusalReason =
  | 'insufficient_scope'
  | 'missing_app_role'
  | 'missing_role'
  | 'app_tokens_not_accepted'
  | 'user_tokens_not_accepted'
  | 'policy_refused'
  | 'auth_context_required';

/** Who a refusal speaks of: a root field is the operation, any other field is named. */
type RefusedField = { readonly coordinate: string; readonly root: boolean };
const subjectOf = (field: RefusedField) => (field.root ? 'This operation' : `The field ${field.coordinate}`);

/** "A, B" when each alternative is one name; "A and B, or C" otherwise. */
function alternatives(anyOf: readonly (readonly string[])[]): string {
  if (anyOf.every((group) => group.length === 1)) return anyOf.flat().join(', ');
  return anyOf.map((group) => group.join(' and ')).join(', or ');
}

/**
 * A verified caller refused by a field's authorization directives. The extensions say what would have been enough:
 * `scopes` (delegated scopes, for users), `permissions` (app permissions, for apps), `roles` (app roles assigned to
 * the user) or `policies`, as alternatives of groups; and, for scopes and app permissions, `scope`: the names the
 * RFC 6750 challenge lists.
 */
export function refusal(
  field: RefusedField,
  reason: RefusalReason,
  anyOf: readonly (readonly string[])[] = [],
): GraphQLError {
  const subject = subjectOf(field);
  const extensions = (extra: Record<string, unknown>) => ({ code: ErrorCode.FORBIDDEN, reason, ...extra });
  const union = [...new Set(anyOf.flat())].join(' ');
  const one = anyOf.every((group) => group.length === 1) ? 'one of ' : '';
  switch (reason) {
    case 'insufficient_scope':
      return new GraphQLError(`${subject} needs ${one}the delegated scopes: ${alternatives(anyOf)}`, {
        extensions: extensions({ scope: union, scopes: anyOf }),
      });
    case 'missing_app_role':
      return new GraphQLError(`${subject} needs ${one}the app roles: ${alternatives(anyOf)}`, {
        extensions: extensions({ scope: union, permissions: anyOf }),
      });
    case 'missing_role':
      return new GraphQLError(`${subject} needs ${one}the app roles assigned to the user: ${alternatives(anyOf)}`, {
        extensions: extensions({ roles: anyOf }),
      });
    case 'app_tokens_not_accepted':
      return new GraphQLError(`App-only tokens are not accepted by ${subject.replace(/^T/, 't')}`, {
        extensions: extensions({}),
      });
    case 'user_tokens_not_accepted':
      return new GraphQLError(`User tokens are not accepted by ${subject.replace(/^T/, 't')}: it serves applications`, {
        extensions: extensions({}),
      });
    case 'auth_context_required': {
      const context = anyOf[0]?.[0] ?? '';
      return new GraphQLError(
        `${subject} needs the authentication context ${context} (a step-up sign-in): this client does not take claims challenges (xms_cc cp1), so sign in with it before calling`,
        { extensions: extensions({ authContext: context }) },
      );
    }
    case 'policy_refused':
      return new GraphQLError(`${subject} is refused by the policies: ${alternatives(anyOf)}`, {
        extensions: extensions({ policies: anyOf }),
      });
  }
}

/**
 * A step-up: the field needs an authentication context the sign-in lacks, and the client takes claims challenges.
 * The challenge Microsoft documents for web APIs: `claims` asks for the context, `authorizationUri` says where; with
 * nothing else answered it is a 401 whose WWW-Authenticate carries both (see errorResponsePlugin).
 */
export function authContextChallenge(field: RefusedField, context: string, authorizationUri: string): GraphQLError {
  return new GraphQLError(
    `${subjectOf(field)} needs the authentication context ${context}: get a new access token with the claims in extensions.claims and retry`,
    {
      extensions: {
        code: ErrorCode.INSUFFICIENT_CLAIMS,
        reason: 'insufficient_claims',
        authContext: context,
        claims: JSON.stringify({ access_token: { acrs: { essential: true, value: context } } }),
        authorizationUri,
      },
    },
  );
}

/** A policy's own refusal: FORBIDDEN with the reason and message it chooses (never echo a token or secret). */
export function forbidden(message: string, reason: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.FORBIDDEN, reason } });
}

const SERVICE_NAMES = { token_endpoint: 'Microsoft Entra ID', graph: 'Microsoft Graph' } as const;

/**
 * A failed call on the caller's behalf, as the error of the field that needed it. Entra ID's and Graph's own
 * messages are not passed on (the log has what an operator needs); `service` says which of them failed.
 */
export function downstreamFailure(error: DownstreamError, requestId: string | undefined): GraphQLError {
  const service = error.service === null ? {} : { service: error.service };
  const who = error.service === null ? 'Microsoft Graph' : SERVICE_NAMES[error.service];
  const { scope, claims, authorizationUri, retryAfterSeconds } = error.details;
  const failure = (code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) =>
    new GraphQLError(message, { extensions: { code, reason: error.failure, ...service, ...extensions } });
  switch (error.failure) {
    case 'not_configured':
      return failure(
        ErrorCode.DOWNSTREAM_NOT_CONFIGURED,
        'This server is not configured to call Microsoft Graph on behalf of callers (see docs/on-behalf-of.md)',
      );
    case 'user_required':
      return failure(
        ErrorCode.OBO_USER_REQUIRED,
        'The profile is fetched on behalf of a signed-in user: an app-only token has no user to act for',
      );
    case 'consent_required':
      return failure(
        ErrorCode.CONSENT_REQUIRED,
        `Consent is missing for this API to call Microsoft Graph as you: the user or an administrator must consent to ${scope ?? 'its permissions'} (AADSTS65001)`,
        { scope },
      );
    case 'interaction_required':
      return failure(
        ErrorCode.INTERACTION_REQUIRED,
        'Microsoft Entra ID requires you to sign in again before this API may act on your behalf',
      );
    case 'assertion_expired':
      // As the API itself answers an expired token: the client gets a new one.
      return failure(ErrorCode.UNAUTHENTICATED, 'Token has expired: request a new access token', { reason: 'expired' });
    case 'insufficient_claims':
      return failure(
        ErrorCode.INSUFFICIENT_CLAIMS,
        'Conditional Access requires more of your sign-in: get a new access token with the claims in extensions.claims and retry',
        { claims, authorizationUri },
      );
    case 'throttled':
      return failure(
        ErrorCode.DOWNSTREAM_THROTTLED,
        `${who} is throttling requests: retry after ${retryAfterSeconds ?? 1} s`,
        { retryAfterSeconds: retryAfterSeconds ?? 1 },
      );
    case 'unavailable':
      return failure(ErrorCode.DOWNSTREAM_UNAVAILABLE, `${who} did not answer in time or failed: retry later`);
    case 'refused':
      return failure(ErrorCode.DOWNSTREAM_REFUSED, `${who} refused this API's request; the server log says why`, {
        ...(requestId !== undefined && { requestId }),
      });
  }
}

/**
 * Whether an answer's data holds anything: a scalar or a list anywhere. `{ hello: { profile: null } }` holds
 * nothing, so a claims challenge on the profile is the whole answer and becomes a 401 challenge.
 */
function carriesData(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value !== 'object' || Array.isArray(value)) return true;
  return Object.values(value).some(carriesData);
}

/** The claims challenge Microsoft documents for web APIs: a 401 whose challenge carries the claims, base64. */
function claimsChallenge(extensions: Readonly<Record<string, unknown>>): string {
  return wwwAuthenticate({
    realm: '',
    ...(typeof extensions['authorizationUri'] === 'string' && { authorization_uri: extensions['authorizationUri'] }),
    error: 'insufficient_claims',
    claims: Buffer.from(String(extensions['claims'] ?? '')).toString('base64'),
  });
}

/** The body of an error answered outside GraphQL execution (bad JSON, unknown route, ...). */
export function errorBody(code: ErrorCode, message: string): { errors: GraphQLFormattedError[] } {
  return { errors: [{ message, extensions: { code } }] };
}

/** Masks anything that is not a deliberate client-facing error. */
export function formatError(formatted: GraphQLFormattedError): GraphQLFormattedError {
  if (formatted.extensions?.['code'] === ErrorCode.INTERNAL_SERVER_ERROR) {
    const requestId = formatted.extensions['requestId'];
    return {
      message: 'Internal server error',
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, ...(requestId !== undefined && { requestId }) },
    };
  }
  return formatted;
}

/** What an answer's errors make of its HTTP head: a status, and the challenge that goes with it. */
export interface SettledAnswer {
  /** The errors, masked internal ones stamped with the request id. */
  readonly errors: readonly GraphQLFormattedError[];
  /** Absent: the answer stays 200 with no challenge. */
  readonly head?: { readonly status: 401 | 403; readonly wwwAuthenticate: string };
}

/**
 * 401 or 403 when an operation produced no data only because the caller was not authenticated or not permitted, or
 * because Entra ID found the caller's token expired on the way to Graph (partial data stays 200); a claims challenge
 * that is the whole answer is a 401 carrying the claims. Masked internal errors get the request id.
 */
export function settleAnswer(
  data: unknown,
  errors: readonly GraphQLFormattedError[],
  requestId: string | undefined,
): SettledAnswer {
  const stamped =
    requestId === undefined
      ? errors
      : errors.map((error) =>
          error.extensions?.['code'] === ErrorCode.INTERNAL_SERVER_ERROR
            ? { ...error, extensions: { ...error.extensions, requestId } }
            : error,
        );
  const challenge = stamped.find((error) => error.extensions?.['code'] === ErrorCode.INSUFFICIENT_CLAIMS);
  if (challenge?.extensions && !carriesData(data)) {
    return { errors: stamped, head: { status: 401, wwwAuthenticate: claimsChallenge(challenge.extensions) } };
  }
  // An answer whose data holds nothing (`{ hello: { profile: null } }` counts as nothing) failed as a whole.
  if (carriesData(data) || stamped.length === 0) return { errors: stamped };
  const codes = new Set(stamped.map((error) => error.extensions?.['code']));
  if (codes.size !== 1) return { errors: stamped };
  if (codes.has(ErrorCode.UNAUTHENTICATED)) {
    return { errors: stamped, head: { status: 401, wwwAuthenticate: wwwAuthenticate() } };
  }
  if (!codes.has(ErrorCode.FORBIDDEN)) return { errors: stamped };
  const scopes = new Set(
    stamped.flatMap((error) =>
      String(error.extensions?.['scope'] ?? '')
        .split(' ')
        .filter(Boolean),
    ),
  );
  const attributes: Record<string, string> = { error: 'insufficient_scope' };
  if (scopes.size > 0) attributes['scope'] = [...scopes].join(' ');
  return { errors: stamped, head: { status: 403, wwwAuthenticate: wwwAuthenticate(attributes) } };
}

/**
 * Settles Apollo Server's answers (settleAnswer). `onErrors` sees the unformatted errors of every operation that had
 * any (for the security log): one plugin rather than two, since Apollo calls every request listener at every stage
 * of every request.
 */
export function errorResponsePlugin<TContext extends { requestId?: string }>(
  onErrors?: (errors: readonly GraphQLError[], context: TContext) => void,
): ApolloServerPlugin<TContext> {
  // One listener object for every request: it keeps no per-request state.
  const listener: GraphQLRequestListener<TContext> = {
    ...(onErrors && {
      async didEncounterErrors({ errors, contextValue }) {
        onErrors(errors, contextValue);
      },
    }),
    async willSendResponse({ response, contextValue }) {
      if (response.body.kind !== 'single') return;
      const { data, errors } = response.body.singleResult;
      if (!errors) return;
      const { errors: settled, head } = settleAnswer(data, errors, contextValue.requestId);
      response.body.singleResult.errors = settled;
      if (!head) return;
      response.http.status = head.status;
      response.http.headers.set('www-authenticate', head.wwwAuthenticate);
    },
  };
  return { requestDidStart: async () => listener };
}
