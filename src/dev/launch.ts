import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig, loadDevConfig, type Config } from '../config';
import { createLogger } from '../observability/logger';
import { devLogDestination } from './dev-log';
import { ALTAIR_PATH } from '../http/altair';
import { createServer } from '../server';
import { DEFAULT_DEV_IDP_PORT, loadOrCreateDevKey, recordIdentityProvider, refuseProduction } from './dev-key';
import { loadOrCreateDevCertificates } from './dev-certificates';
import { startGraphStandIn, type GraphStandIn } from './graph-stand-in';
import { DEV_CLIENT_ID, DEV_TENANT_ID, startIdentityProvider, type IdentityProvider } from './identity-provider';

/**
 * What `npm run dev` sets where the environment says nothing. Every other setting is read from the environment as
 * `npm start` reads it; these differ from production's defaults so that a developer is not in their own way.
 */
const DEV_DEFAULTS: Record<string, string> = {
  HOST: '127.0.0.1',
  // Trying out bad tokens is what one does in dev mode: 1,000 failures a minute per address instead of 20.
  RATE_LIMIT_AUTH_FAILURES: '1000',
  // Ctrl-C stops at once: there is no load balancer to drain.
  SHUTDOWN_DRAIN_SECONDS: '0',
};
/**
 * What `npm run dev` always sets, whatever the environment says: the local identity provider issues the tokens and
 * takes the API's credential, and the Graph stand-in answers for Microsoft Graph.
 */
const IDENTITY = [
  'AZURE_TENANT_ID',
  'AZURE_CLIENT_ID',
  'API_CLIENT_ID',
  'AZURE_AUTHORITY_HOST',
  'API_CLIENT_SECRET',
  'API_CLIENT_CERTIFICATE_PATH',
  'API_CLIENT_CERTIFICATE_PASSWORD',
  'API_FEDERATED_TOKEN_FILE',
  'API_MANAGED_IDENTITY_ASSERTION',
  'GRAPH_BASE_URL',
  'OUTBOUND_CA_FILE',
] as const;

/** A mistake the user can fix: said in one line, exit 1, no stack trace. */
class DevError extends Error {}

// `npm run dev`: the local identity provider and the API together, offline, with a ready token.
async function launch(): Promise<void> {
  refuseProduction('npm run dev');
  const { idpPort = DEFAULT_DEV_IDP_PORT } = readSettings(() => loadDevConfig());
  // HTTPS with a CA of its own in .dev/, trusted by the API process alone (OUTBOUND_CA_FILE): msal-node, which
  // makes the on-behalf-of calls, accepts only https authorities.
  const certificates = await loadOrCreateDevCertificates();
  // The API's client secret, as the app registration would hold it; new at every start.
  const clientSecret = randomBytes(24).toString('base64url');
  const idp = await bound(`the identity provider's port ${idpPort} (DEV_IDP_PORT)`, async () =>
    startIdentityProvider({
      port: idpPort,
      signingKey: await loadOrCreateDevKey(),
      tls: certificates.server,
      clientCredentials: { secrets: [clientSecret] },
    }),
  );
  const graph = await startGraphStandIn({ idp, tls: certificates.server });
  const environment = { ...DEV_DEFAULTS, ...process.env };
  for (const name of IDENTITY) delete environment[name];
  const config = readSettings(() =>
    loadConfig({
      ...environment,
      NODE_ENV: 'development',
      AZURE_TENANT_ID: DEV_TENANT_ID,
      API_CLIENT_ID: DEV_CLIENT_ID,
      AZURE_AUTHORITY_HOST: idp.url,
      API_CLIENT_SECRET: clientSecret,
      GRAPH_BASE_URL: graph.url,
      OUTBOUND_CA_FILE: certificates.caFile,
    }),
  );
  const logger = createLogger(config.logLevel, devLogDestination());
  for (const name of IDENTITY.filter((setting) => process.env[setting] !== undefined)) {
    logger.warn(
      { event: 'dev_setting_ignored', setting: name },
      `${name} is ignored: npm run dev uses its own identity provider and Graph stand-in`,
    );
  }
  const token = await idp.mint({ expiresInSeconds: 12 * 3600 });
  const server = await createServer({ config, logger, sandboxToken: token });
  const listening = await bound(`port ${config.port} (PORT)`, () => server.listen());
  // Only now that both ports are this process's: `npm run token` must not sign for a provider whose API failed.
  recordIdentityProvider(idp.url);
  // The IDE pages answer only loopback host names: show one even when HOST listens on every address.
  const url = listening.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:');
  printBanner(idp, graph, url, token, config);
  const stop = () => {
    void server
      .stop()
      .then(() => Promise.all([idp.close(), graph.close()]))
      .then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function readSettings<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof ConfigError) throw new DevError(`npm run dev: ${error.problems.join('; ')}`);
    throw error;
  }
}

/** Runs `listen`, turning a port already taken or forbidden into a DevError that names the setting. */
async function bound<T>(what: string, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new DevError(`npm run dev: ${what} is in use: stop what uses it or choose another`);
    if (code === 'EACCES') throw new DevError(`npm run dev: ${what} may not be used by this user: choose another`);
    throw error;
  }
}

function printBanner(idp: IdentityProvider, graph: GraphStandIn, url: string, token: string, config: Config): void {
  console.log(`
Local identity provider: ${idp.url}  (tenant ${DEV_TENANT_ID}, API client id ${DEV_CLIENT_ID})
Microsoft Graph:         ${graph.url}  (a stand-in for /v1.0/me; HTTPS with the CA in .dev/ca.pem)
GraphQL API:             ${url}/graphql
Subscriptions:           ${url.replace(/^http/, 'ws')}/graphql  (graphql-ws; the token in connection_init)
GraphQL IDE (offline):   ${url}${ALTAIR_PATH}  (Altair, served from node_modules)
Apollo Sandbox (online): ${url}/graphql  (loads from Apollo's CDN)
In both, the token below is already set as the Authorization header.
Dev mode differs from production: ${Object.keys(DEV_DEFAULTS)
    .filter((name) => process.env[name] === undefined)
    .map((name) => `${name}=${DEV_DEFAULTS[name]}`)
    .join(
      ', ',
    )}; introspection and the landing page are on; ${config.corsOrigins.length === 0 ? 'localhost and Apollo Studio may call it from a browser' : 'CORS_ORIGINS plus localhost and Apollo Studio may call it from a browser'}

A user token (valid 12 h; more with: npm run -s token -- --help):
${token}

Try it:
curl -s ${url}/graphql -H 'content-type: application/json' -H "authorization: Bearer ${token}" \\
  -d '{"query":"{ hello { message username employeeId scopes } }"}'
The profile comes from the Graph stand-in, on the caller's behalf:
  { hello { username profile { displayName jobTitle } } }
To see each documented profile error, a token for it: npm run -s token -- --simulate consent_required (see --help)
`);
}

launch().catch((error: unknown) => {
  if (!(error instanceof DevError)) throw error;
  console.error(error.message);
  process.exit(1);
});
