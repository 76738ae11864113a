import 'reflect-metadata';
import { loadConfig } from '../config';
import { createLogger } from '../logger';
import { createServer } from '../server';
import { DEV_API_SCOPE, DEV_APP_ROLE, DEV_IDP_PORT, loadOrCreateDevKey, refuseProduction } from './dev-key';
import { DEV_CLIENT_ID, DEV_TENANT_ID, startIdentityProvider } from './identity-provider';

// `npm run dev`: the local identity provider and the API together, offline, with a ready token.
async function launch(): Promise<void> {
  refuseProduction('npm run dev');
  const idp = await startIdentityProvider({ port: DEV_IDP_PORT, signingKey: await loadOrCreateDevKey() });
  const config = loadConfig({
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    AZURE_TENANT_ID: DEV_TENANT_ID,
    AZURE_CLIENT_ID: DEV_CLIENT_ID,
    AZURE_AUTHORITY_HOST: idp.url,
    API_REQUIRED_SCOPES: DEV_API_SCOPE,
    API_REQUIRED_APP_ROLES: DEV_APP_ROLE,
    ...pick(process.env, ['PORT', 'LOG_LEVEL', 'AZURE_CLOCK_SKEW_SECONDS', 'AZURE_EMPLOYEE_ID_CLAIM']),
  });
  const logger = createLogger(config.logLevel);
  const token = await idp.mint({ expiresInSeconds: 12 * 3600 });
  const server = await createServer({ config, logger, sandboxToken: token });
  const url = await server.listen();
  console.log(`
Local identity provider: ${idp.url}  (tenant ${DEV_TENANT_ID}, API client id ${DEV_CLIENT_ID})
GraphQL API:             ${url}/graphql
Apollo Sandbox:          open ${url}/graphql in a browser; the token below is already set as the Authorization header

A user token (valid 12 h; more with: npm run -s token -- --help):
${token}

Try it:
curl -s ${url}/graphql -H 'content-type: application/json' -H "authorization: Bearer ${token}" \\
  -d '{"query":"{ hello { message username employeeId scopes } }"}'
`);
  const stop = () => {
    void server
      .stop()
      .then(() => idp.close())
      .then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function pick(env: NodeJS.ProcessEnv, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((name) => (env[name] === undefined ? [] : [[name, env[name] as string]])));
}

void launch();
