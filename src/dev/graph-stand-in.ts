import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { PemCertificate } from './dev-certificates';
import type { IdentityProvider } from './identity-provider';
import { sendJson } from './send-json';
import { graphFailureOf } from './simulated-failures';
import { DEFAULT_USER } from './tokens';

/** What /v1.0/me knows of each dev user, by object id. */
export const DEV_PROFILES: Readonly<Record<string, Readonly<Record<string, string | null>>>> = {
  [DEFAULT_USER.objectId]: {
    id: DEFAULT_USER.objectId,
    displayName: DEFAULT_USER.name,
    givenName: 'Ada',
    surname: 'Lovelace',
    jobTitle: 'Analyst',
    department: 'Analytical Engines',
    officeLocation: 'London',
    mail: DEFAULT_USER.username,
    userPrincipalName: DEFAULT_USER.username,
    mobilePhone: null,
  },
};

export interface GraphFailure {
  readonly status: 429 | 503 | 500;
  /** Sent as Retry-After (seconds) when set. */
  readonly retryAfterSeconds?: number;
  /** How many requests fail before it answers again (default: all of them). */
  readonly times?: number;
}

export interface GraphStandIn {
  /** Origin, e.g. `https://127.0.0.1:4011`: what GRAPH_BASE_URL names. */
  readonly url: string;
  /** Requests to /v1.0/me so far. */
  requestCount(): number;
  /** The `$select` of each request to /v1.0/me, in order. */
  readonly selects: string[];
  /** The W3C `traceparent` of each request to /v1.0/me (null where none came), in order. */
  readonly traceparents: (string | null)[];
  fail(failure: GraphFailure | undefined): void;
  /**
   * Continuous Access Evaluation after a critical event (the user's sessions revoked): tokens of clients that
   * declared cp1 get Graph's 401 claims challenge; others are served until they expire, as Graph does.
   */
  revokeSessions(revoked: boolean): void;
  /** Delays every answer by `ms`. */
  setDelay(ms: number): void;
  close(): Promise<void>;
}

/**
 * A stand-in for Microsoft Graph's `GET /v1.0/me`, over HTTPS, for dev mode and tests. It accepts only tokens of
 * the local identity provider whose audience is this stand-in and that carry the `User.Read` scope, and answers
 * with Graph's shapes: `$select`ed properties with `@odata.context`, and `{ error: { code, message } }`.
 */
export async function startGraphStandIn(options: {
  readonly idp: IdentityProvider;
  readonly tls: PemCertificate;
  readonly port?: number;
}): Promise<GraphStandIn> {
  if (process.env['NODE_ENV'] === 'production') {
    throw new Error('The Graph stand-in is for development and tests; it never runs with NODE_ENV=production');
  }
  const selects: string[] = [];
  const traceparents: (string | null)[] = [];
  let failure: (GraphFailure & { left: number }) | undefined;
  let delayMs = 0;
  let requests = 0;
  let revoked = false;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestUrl = new URL(req.url ?? '/', url);
    if (requestUrl.pathname !== '/v1.0/me')
      return graphError(res, 400, 'BadRequest', 'Invalid request: only /v1.0/me is served here');
    requests += 1;
    selects.push(requestUrl.searchParams.get('$select') ?? '');
    traceparents.push(typeof req.headers.traceparent === 'string' ? req.headers.traceparent : null);
    if (req.method !== 'GET') return graphError(res, 405, 'Request_BadRequest', 'Only GET is supported');
    if (failure && failure.left > 0) {
      failure.left -= 1;
      return busy(res, failure);
    }
    const claims = await verified(req.headers.authorization);
    if (typeof claims === 'string') return graphError(res, 401, 'InvalidAuthenticationToken', claims);
    const simulated = graphFailureOf(claims);
    if (simulated) return busy(res, simulated);
    if (revoked && Array.isArray(claims['xms_cc']) && claims['xms_cc'].includes('cp1')) {
      const challenge = JSON.stringify({
        access_token: { nbf: { essential: true, value: String((Date.now() / 1000) | 0) } },
      });
      return graphError(
        res,
        401,
        'InvalidAuthenticationToken',
        'Continuous access evaluation resulted in claims challenge',
        {
          'www-authenticate': `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="${Buffer.from(challenge).toString('base64')}"`,
        },
      );
    }
    if (
      !String(claims['scp'] ?? '')
        .split(' ')
        .includes('User.Read')
    ) {
      return graphError(res, 403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
    }
    const profile = DEV_PROFILES[String(claims['oid'])];
    if (!profile) return graphError(res, 404, 'Request_ResourceNotFound', 'The user does not exist in this directory.');
    const select = requestUrl.searchParams.get('$select');
    const fields = select ? select.split(',').filter((field) => field in profile) : Object.keys(profile);
    sendJson(res, 200, {
      '@odata.context': `${url}/v1.0/$metadata#users(${select ?? ''})/$entity`,
      ...Object.fromEntries(fields.map((field) => [field, profile[field]])),
    });
  }

  function busy(res: ServerResponse, answer: GraphFailure): void {
    const headers: Record<string, string> =
      answer.retryAfterSeconds === undefined ? {} : { 'retry-after': String(answer.retryAfterSeconds) };
    const code = answer.status === 429 ? 'TooManyRequests' : 'ServiceUnavailable';
    graphError(res, answer.status, code, 'The service is busy: retry later', headers);
  }

  // The key set is built again only when the provider signs with another key.
  let keySet = { kid: '', keys: createLocalJWKSet({ keys: [] }) };
  async function verified(authorization: string | undefined): Promise<JWTPayload | string> {
    const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    if (!token) return 'Access token is empty.';
    try {
      const current = options.idp.currentKey;
      if (keySet.kid !== current.kid)
        keySet = { kid: current.kid, keys: createLocalJWKSet({ keys: [current.publicJwk] }) };
      const { keys } = keySet;
      const { payload } = await jwtVerify(token, keys, { audience: url, algorithms: ['RS256'] });
      if (payload.iss !== options.idp.issuers.v2(String(payload['tid']))) return 'Invalid token issuer.';
      return payload;
    } catch {
      return 'Access token validation failure. Invalid audience, signature or lifetime.';
    }
  }

  const server = createServer({ cert: options.tls.certificate, key: options.tls.privateKey }, (req, res) => {
    const run = () =>
      handle(req, res).catch(() => graphError(res, 500, 'generalException', 'General exception while processing'));
    if (delayMs > 0) setTimeout(run, delayMs).unref();
    else void run();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requestCount: () => requests,
    selects,
    traceparents,
    fail(next) {
      failure = next && { ...next, left: next.times ?? Number.POSITIVE_INFINITY };
    },
    revokeSessions(next) {
      revoked = next;
    },
    setDelay(ms) {
      delayMs = ms;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function graphError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, { error: { code, message, innerError: { date: new Date().toISOString() } } }, headers);
}
