import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  importX509,
  jwtVerify,
  SignJWT,
  type JWK,
  type JWTPayload,
} from 'jose';
import { thumbprintSha256 } from './dev-certificates';
import { sendJson } from './send-json';
import { oboFailureOf, SIMULATE_CLAIM } from './simulated-failures';
import type { SigningKey } from './signing-key';
import type { Issuers } from './tokens';

/** The audience of federated assertions (workload identity, managed identity), as Entra ID requires it. */
export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);
/** Client assertions are signed on another clock (msal-node rounds its `nbf`): Entra ID allows five minutes. */
const CLOCK_SKEW_SECONDS = 300;

/** What the API may prove its identity with, as an app registration lists its credentials. */
export interface ClientCredentials {
  readonly secrets?: readonly string[];
  /** PEM certificates (the private keys stay with the API). */
  readonly certificates?: readonly string[];
  /** Federated identity credentials: assertions from `issuer` about `subject`, signed by `key`. */
  readonly federated?: readonly { readonly issuer: string; readonly subject: string; readonly key: JWK }[];
}

/** An answer the token endpoint can be told to give to on-behalf-of requests, as Entra ID gives them. */
export type OboFailure =
  | { readonly kind: 'consent_required' }
  | { readonly kind: 'interaction_required' }
  | { readonly kind: 'claims_challenge'; readonly claims: string }
  | { readonly kind: 'throttled'; readonly retryAfterSeconds: number };

export interface TokenEndpoint {
  /** Answer every on-behalf-of request with this failure until called again without one. */
  fail(failure: OboFailure | undefined): void;
  /** Lifetime of the tokens it issues (default 3600 s). */
  setLifetime(seconds: number): void;
  /** The `claims` parameter of each on-behalf-of request, in order (null where it had none). */
  readonly claimsRequested: (string | null)[];
  /** The W3C `traceparent` of each on-behalf-of request, in order (null where none came). */
  readonly traceparents: (string | null)[];
  handle(req: IncomingMessage, res: ServerResponse, tenant: string): Promise<void>;
}

interface Setup {
  readonly url: string;
  readonly clientId: string;
  readonly issuers: Issuers;
  readonly clientCredentials: ClientCredentials;
  readonly publishedKeys: () => readonly SigningKey[];
  readonly signingKey: () => SigningKey;
}

class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly code: number,
    readonly description: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(description);
  }
}

/**
 * The token endpoint of the local identity provider: the on-behalf-of grant (RFC 7523 jwt-bearer with
 * `requested_token_use=on_behalf_of`) as Entra ID implements it. The API authenticates with a secret, a
 * certificate-signed client assertion or a federated assertion; the user's assertion must be a valid token of this
 * provider issued to the API; the answer is a token for the resource of the requested scopes. Errors have Entra's
 * shape (`error`, `error_description` with its AADSTS number, `error_codes`, `suberror`, `claims`), which is what
 * msal-node reads.
 */
export function createTokenEndpoint(setup: Setup): TokenEndpoint {
  let failure: OboFailure | undefined;
  /** The registered certificates by their x5t#S256, as assertions name them. */
  const certificates = new Map((setup.clientCredentials.certificates ?? []).map((pem) => [thumbprintSha256(pem), pem]));
  let lifetimeSeconds = 3600;
  const claimsRequested: (string | null)[] = [];
  const traceparents: (string | null)[] = [];

  async function handle(req: IncomingMessage, res: ServerResponse, tenant: string): Promise<void> {
    try {
      const form = new URLSearchParams(await readBody(req));
      const tokenEndpoint = `${setup.url}/${tenant}/oauth2/v2.0/token`;
      if (form.get('client_id')?.toLowerCase() !== setup.clientId) {
        throw new OAuthError(400, 'unauthorized_client', 700016, 'Application was not found in the directory.');
      }
      await authenticateClient(form, tokenEndpoint);
      if (form.get('grant_type') !== JWT_BEARER || form.get('requested_token_use') !== 'on_behalf_of') {
        throw new OAuthError(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
      }
      const user = await verifyUserAssertion(form.get('assertion') ?? '', tenant);
      const { resource, permissions } = requestedScopes(form.get('scope') ?? '');
      claimsRequested.push(form.get('claims'));
      traceparents.push(typeof req.headers.traceparent === 'string' ? req.headers.traceparent : null);
      answerFailure(resource, oboFailureOf(user) ?? failure);
      const now = Math.floor(Date.now() / 1000);
      const key = setup.signingKey();
      const accessToken = await new SignJWT({
        aud: resource,
        iss: setup.issuers.v2(String(user['tid'])),
        iat: now,
        nbf: now,
        exp: now + lifetimeSeconds,
        tid: user['tid'],
        oid: user['oid'],
        sub: `${String(user['oid'])}-at-${resource}`,
        name: user['name'],
        preferred_username: user['preferred_username'] ?? user['upn'],
        scp: permissions.join(' '),
        azp: setup.clientId,
        ver: '2.0',
        uti: randomUUID().replaceAll('-', ''),
        // A client declaring cp1 gets a CAE token, which says so: the resource may then answer claims challenges.
        ...(requestsCae(form.get('claims')) && { xms_cc: ['cp1'] }),
        // A simulated Graph failure travels to the Graph stand-in in the token it is given.
        ...(user[SIMULATE_CLAIM] !== undefined && { [SIMULATE_CLAIM]: user[SIMULATE_CLAIM] }),
      } as JWTPayload)
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid })
        .sign(key.privateKey);
      sendJson(res, 200, {
        token_type: 'Bearer',
        scope: permissions.map((permission) => `${resource}/${permission}`).join(' '),
        expires_in: lifetimeSeconds,
        ext_expires_in: lifetimeSeconds,
        access_token: accessToken,
        // What msal-node asks for (client_info=1) to name the account: the user's object id and tenant.
        ...(form.get('client_info') === '1' && {
          client_info: Buffer.from(JSON.stringify({ uid: user['oid'], utid: user['tid'] })).toString('base64url'),
        }),
      });
    } catch (error) {
      // The client went away (a timeout) or the request broke off: nobody is left to answer.
      if (!(error instanceof OAuthError)) return void res.destroy();
      const traceId = randomUUID();
      const correlationId = randomUUID();
      const timestamp = new Date()
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
      const headers =
        error.status === 429 ? { 'retry-after': String(error.extra['retryAfterSeconds'] ?? 1) } : undefined;
      const { retryAfterSeconds: _retry, ...extra } = error.extra;
      sendJson(
        res,
        error.status,
        {
          error: error.error,
          error_description: `AADSTS${error.code}: ${error.description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
          error_codes: [error.code],
          timestamp,
          trace_id: traceId,
          correlation_id: correlationId,
          ...extra,
        },
        headers,
      );
    }
  }

  async function authenticateClient(form: URLSearchParams, tokenEndpoint: string): Promise<void> {
    const credentials = setup.clientCredentials;
    const secret = form.get('client_secret');
    if (secret !== null) {
      if (credentials.secrets?.includes(secret)) return;
      throw new OAuthError(401, 'invalid_client', 7000215, 'Invalid client secret provided.');
    }
    const assertion = form.get('client_assertion');
    if (assertion === null || form.get('client_assertion_type') !== CLIENT_ASSERTION_TYPE) {
      throw new OAuthError(
        401,
        'invalid_client',
        7000218,
        "The request body must contain 'client_assertion' or 'client_secret'.",
      );
    }
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(assertion);
    } catch {
      throw new OAuthError(401, 'invalid_client', 50027, 'JWT token is invalid or malformed.');
    }
    const thumbprint = header['x5t#S256'];
    if (typeof thumbprint === 'string') {
      const certificate = certificates.get(thumbprint);
      if (!certificate) {
        throw new OAuthError(
          401,
          'invalid_client',
          700027,
          'The certificate with the given thumbprint is not registered.',
        );
      }
      const key = await importX509(certificate, String(header.alg));
      await verifyOr(assertion, key, {
        audience: tokenEndpoint,
        issuer: setup.clientId,
        subject: setup.clientId,
        clockTolerance: CLOCK_SKEW_SECONDS,
      });
      return;
    }
    for (const federated of credentials.federated ?? []) {
      const verified = await jwtVerify(assertion, createLocalJWKSet({ keys: [federated.key] }), {
        audience: TOKEN_EXCHANGE_AUDIENCE,
        issuer: federated.issuer,
        subject: federated.subject,
        clockTolerance: CLOCK_SKEW_SECONDS,
      }).catch(() => undefined);
      if (verified) return;
    }
    throw new OAuthError(
      401,
      'invalid_client',
      700213,
      'No matching federated identity record found for presented assertion.',
    );
  }

  async function verifyOr(
    assertion: string,
    key: Parameters<typeof jwtVerify>[1],
    options: Parameters<typeof jwtVerify>[2],
  ): Promise<void> {
    try {
      await jwtVerify(assertion, key as never, options);
    } catch {
      throw new OAuthError(401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
    }
  }

  async function verifyUserAssertion(assertion: string, tenant: string): Promise<JWTPayload> {
    try {
      const keys = createLocalJWKSet({ keys: setup.publishedKeys().map((key) => key.publicJwk) });
      const { payload } = await jwtVerify(assertion, keys, {
        audience: [setup.clientId, `api://${setup.clientId}`],
        algorithms: ['RS256'],
      });
      const tid = String(payload['tid']);
      if (
        (payload.iss !== setup.issuers.v2(tid) && payload.iss !== setup.issuers.v1(tid)) ||
        (tenant !== tid && tenant !== 'organizations' && tenant !== 'common')
      ) {
        throw new Error('issuer');
      }
      if (typeof payload['scp'] !== 'string') throw new Error('not a user token');
      return payload;
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_JWT_EXPIRED') {
        throw new OAuthError(400, 'invalid_grant', 500133, 'Assertion is not within its valid time range.');
      }
      throw new OAuthError(400, 'invalid_grant', 50013, 'Assertion failed signature validation.');
    }
  }

  function requestedScopes(scope: string): { resource: string; permissions: string[] } {
    const resourceScopes = scope.split(' ').filter((item) => item && !OIDC_SCOPES.has(item));
    const parsed = resourceScopes.map((item) => {
      const slash = item.lastIndexOf('/');
      return { resource: item.slice(0, slash), permission: item.slice(slash + 1) };
    });
    const resource = parsed[0]?.resource;
    if (!resource || !parsed.every((item) => item.resource === resource && item.permission)) {
      throw new OAuthError(
        400,
        'invalid_scope',
        70011,
        "The provided value for the input parameter 'scope' is not valid.",
      );
    }
    return { resource, permissions: parsed.map((item) => item.permission) };
  }

  function answerFailure(resource: string, failure: OboFailure | undefined): void {
    switch (failure?.kind) {
      case undefined:
        return;
      case 'consent_required':
        throw new OAuthError(
          400,
          'invalid_grant',
          65001,
          `The user or administrator has not consented to use the application with ID '${setup.clientId}' named 'entra-graphql-api (local)'. Send an interactive authorization request for this user and resource.`,
          { suberror: 'consent_required' },
        );
      case 'interaction_required':
        throw new OAuthError(
          400,
          'interaction_required',
          50173,
          'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.',
        );
      case 'claims_challenge':
        throw new OAuthError(
          400,
          'invalid_grant',
          50076,
          `Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '${resource}'.`,
          { suberror: 'basic_action', claims: failure.claims },
        );
      case 'throttled':
        throw new OAuthError(
          429,
          'temporarily_unavailable',
          50196,
          'The server is throttling requests from this client.',
          {
            retryAfterSeconds: failure.retryAfterSeconds,
          },
        );
    }
  }

  return {
    claimsRequested,
    traceparents,
    fail(next) {
      failure = next;
    },
    setLifetime(seconds) {
      lifetimeSeconds = seconds;
    },
    handle,
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 64 * 1024) throw new OAuthError(400, 'invalid_request', 90020, 'The request is too large.');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Whether a token request's `claims` declares the cp1 client capability (`access_token.xms_cc.values`). */
function requestsCae(claims: string | null): boolean {
  if (claims === null) return false;
  try {
    const values = (JSON.parse(claims) as { access_token?: { xms_cc?: { values?: unknown } } }).access_token?.xms_cc
      ?.values;
    return Array.isArray(values) && values.includes('cp1');
  } catch {
    return false;
  }
}
