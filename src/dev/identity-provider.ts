import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';
import { sendJson } from './send-json';
import { createSigningKey, type SigningKey } from './signing-key';
import { MULTI_TENANT } from '../auth/options';
import type { PemCertificate } from './dev-certificates';
import { createTokenEndpoint, type ClientCredentials, type OboFailure, type TokenEndpoint } from './token-endpoint';
import { issuersOf, mintToken, type Issuers, type MintOptions } from './tokens';

export const DEV_TENANT_ID = '7b6a1c4e-0d3f-4c2a-9e51-3f8d2b7a6c10';
export const DEV_CLIENT_ID = 'b3c1e0f2-5a4d-4e6b-8c7a-9d2f1e0a3b45';
/** The client application that "calls" the API in minted tokens (`azp` / `appid`). */
export const DEV_CALLER_APP_ID = 'c9d8e7f6-1a2b-4c3d-9e8f-0a1b2c3d4e5f';

export interface IdentityProviderOptions {
  readonly port?: number;
  readonly host?: string;
  readonly tenantId?: string;
  readonly clientId?: string;
  readonly signingKey?: SigningKey;
  /** Origin of v1 issuers; Entra's is another host than the authority. Default `https://sts.windows.net`. */
  readonly v1IssuerOrigin?: string;
  /**
   * Origin of v2 issuers when it is not the authority's own: an External ID tenant's `https://{tid}.ciamlogin.com`
   * (a function of the tenant), or a custom URL domain. Default: the provider's URL, as in a workforce tenant.
   */
  readonly v2IssuerOrigin?: string | ((tenant: string) => string);
  /** Serve HTTPS with this certificate (msal-node accepts only https authorities); default plain HTTP. */
  readonly tls?: PemCertificate;
  /** How the API may prove its identity at the token endpoint (on-behalf-of grant). Default: none accepted. */
  readonly clientCredentials?: ClientCredentials;
}

export interface ProviderMintOptions extends MintOptions {
  /** Sign with this key instead of the current one (it need not be published). */
  readonly key?: SigningKey;
}

export interface IdentityProvider {
  /** The authority host, e.g. `http://127.0.0.1:4010`. */
  readonly url: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly issuers: Issuers;
  /** The key new tokens are signed with. */
  readonly currentKey: SigningKey;
  /** Keys served for `?appid=<client id>` (app-specific signing keys). */
  readonly appKeys: SigningKey[];
  /** Overrides of the `issuer` field of published v2 keys, by kid. */
  readonly keyIssuers: Map<string, string>;
  mint(options?: ProviderMintOptions): Promise<string>;
  /** Publishes a new key and signs with it from now on; `retire` unpublishes the previous ones. */
  rotate(options?: { retire?: boolean }): Promise<SigningKey>;
  /** While false every request is answered 503, as during an outage. */
  setAvailable(available: boolean): void;
  /** Delays every answer by `ms`, as a slow network would. */
  setDelay(ms: number): void;
  /** Requests received whose path ends with `suffix` (all when omitted). */
  requestCount(suffix?: string): number;
  /** The token endpoint (`{url}/{tenant}/oauth2/v2.0/token`): its on-behalf-of grant and how to make it fail. */
  readonly tokenEndpoint: TokenEndpoint;
  /** Token-endpoint calls so far (any grant, any outcome). */
  tokenRequests(): number;
  close(): Promise<void>;
}

const TOKEN_PATH = '/oauth2/v2.0/token';
const TENANT_SEGMENT = /^([0-9a-f-]{36}|organizations|common)$/i;

/**
 * An Entra-shaped OpenID provider on loopback: v1 and v2 discovery for a tenant and for organizations/common,
 * rotatable RSA keys, and minting of signed tokens. For tests and dev mode only.
 */
export async function startIdentityProvider(options: IdentityProviderOptions = {}): Promise<IdentityProvider> {
  if (process.env['NODE_ENV'] === 'production') {
    throw new Error('The local identity provider is for development and tests; it never runs with NODE_ENV=production');
  }
  const tenantId = options.tenantId ?? DEV_TENANT_ID;
  const clientId = options.clientId ?? DEV_CLIENT_ID;
  let currentKey = options.signingKey ?? (await createSigningKey());
  let published: SigningKey[] = [currentKey];
  const appKeys: SigningKey[] = [await createSigningKey()];
  const keyIssuers = new Map<string, string>();
  const requests: string[] = [];
  let available = true;
  let delayMs = 0;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const requestUrl = new URL(req.url ?? '/', 'http://idp.invalid');
    requests.push(requestUrl.pathname);
    if (!available) return sendJson(res, 503, { error: 'temporarily_unavailable' });
    const [tenant, ...rest] = requestUrl.pathname.split('/').filter(Boolean);
    if (!tenant || !TENANT_SEGMENT.test(tenant)) return sendJson(res, 404, { error: 'not_found' });
    if (`/${rest.join('/')}` === TOKEN_PATH) {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request' });
      return void tokenEndpoint.handle(req, res, tenant.toLowerCase());
    }
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'method_not_allowed' });
    const appId = requestUrl.searchParams.get('appid');
    const query = appId ? `?appid=${encodeURIComponent(appId)}` : '';
    const issuerTenant = (MULTI_TENANT as readonly string[]).includes(tenant.toLowerCase()) ? '{tenantid}' : tenant;
    switch (rest.join('/')) {
      case 'v2.0/.well-known/openid-configuration':
        return sendJson(
          res,
          200,
          discovery(issuers.v2(issuerTenant), `${url}/${tenant}/discovery/v2.0/keys${query}`, tenant),
        );
      case '.well-known/openid-configuration':
        return sendJson(
          res,
          200,
          discovery(issuers.v1(issuerTenant), `${url}/${tenant}/discovery/keys${query}`, tenant),
        );
      case 'discovery/v2.0/keys':
        return sendJson(res, 200, keySet(appId ? appKeys : published, issuers.v2(issuerTenant)));
      case 'discovery/keys':
        return sendJson(res, 200, keySet(appId ? appKeys : published, undefined));
      default:
        return sendJson(res, 404, { error: 'not_found' });
    }
  }

  function discovery(issuer: string, jwksUri: string, tenant: string): object {
    return {
      issuer,
      jwks_uri: jwksUri,
      authorization_endpoint: `${url}/${tenant}/oauth2/v2.0/authorize`,
      token_endpoint: `${url}/${tenant}/oauth2/v2.0/token`,
      response_types_supported: ['code', 'id_token', 'token'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
    };
  }

  function keySet(keys: readonly SigningKey[], issuer: string | undefined): { keys: JWK[] } {
    return {
      keys: keys.map((key) => {
        const keyIssuer = keyIssuers.get(key.kid) ?? issuer;
        return keyIssuer === undefined ? key.publicJwk : { ...key.publicJwk, issuer: keyIssuer };
      }),
    };
  }

  // Listen first: the issuers name the port, and requests are handled only once they are known.
  const server = options.tls
    ? createHttpsServer({ cert: options.tls.certificate, key: options.tls.privateKey })
    : createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `${options.tls ? 'https' : 'http'}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  const issuers = issuersOf(url, options.v1IssuerOrigin, options.v2IssuerOrigin);
  const tokenEndpoint = createTokenEndpoint({
    url,
    clientId,
    issuers,
    clientCredentials: options.clientCredentials ?? {},
    publishedKeys: () => published,
    signingKey: () => currentKey,
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) =>
    delayMs > 0 ? setTimeout(() => handle(req, res), delayMs).unref() : handle(req, res),
  );

  return {
    url,
    tenantId,
    clientId,
    issuers,
    get currentKey() {
      return currentKey;
    },
    appKeys,
    keyIssuers,
    mint: ({ key, ...mintOptions } = {}) =>
      mintToken({ key: key ?? currentKey, issuers, tenantId, clientId, clientAppId: DEV_CALLER_APP_ID }, mintOptions),
    async rotate({ retire = false } = {}) {
      currentKey = await createSigningKey();
      published = retire ? [currentKey] : [...published, currentKey];
      return currentKey;
    },
    setAvailable(value) {
      available = value;
    },
    setDelay(ms) {
      delayMs = ms;
    },
    requestCount: (suffix) => requests.filter((path) => suffix === undefined || path.endsWith(suffix)).length,
    tokenEndpoint,
    tokenRequests: () => requests.filter((path) => path.endsWith(TOKEN_PATH)).length,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

export type { OboFailure };
