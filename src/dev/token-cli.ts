import { parseArgs } from 'node:util';
import { DEV_AUTHORITY, loadOrCreateDevKey, refuseProduction } from './dev-key';
import { DEV_CALLER_APP_ID, DEV_CLIENT_ID, DEV_TENANT_ID } from './identity-provider';
import { issuersOf, mintToken, type MintOptions } from './tokens';

const USAGE = `Usage: npm run -s token -- [options]
Prints an access token signed by the local identity provider of \`npm run dev\`.

  --v1                 a v1 token (default v2)
  --app                an app-only token (roles, no scp) instead of a user token
  --scopes "a b"       delegated scopes (default "access_as_user")
  --roles A,B          roles (default for --app: Hello.Read.All)
  --tenant GUID        tenant id (default the dev tenant)
  --audience AUD       aud claim (default the dev client id; api://<id> for --v1)
  --expires-in SECONDS lifetime (default 3600)
  --claim name=value   add or replace a claim (repeatable; value parsed as JSON when it can be)
  --no-employee-id     leave out the employeeid claim
  --help`;

refuseProduction('npm run token');
const { values } = parseArgs({
  options: {
    v1: { type: 'boolean', default: false },
    app: { type: 'boolean', default: false },
    scopes: { type: 'string' },
    roles: { type: 'string' },
    tenant: { type: 'string' },
    audience: { type: 'string' },
    'expires-in': { type: 'string' },
    claim: { type: 'string', multiple: true },
    'no-employee-id': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const claims: Record<string, unknown> = {};
for (const pair of values.claim ?? []) {
  const at = pair.indexOf('=');
  if (at < 1) throw new Error(`--claim takes name=value, got ${pair}`);
  const raw = pair.slice(at + 1);
  try {
    claims[pair.slice(0, at)] = JSON.parse(raw);
  } catch {
    claims[pair.slice(0, at)] = raw;
  }
}
if (values['no-employee-id']) claims['employeeid'] = undefined;

const options: MintOptions = {
  version: values.v1 ? '1.0' : '2.0',
  kind: values.app ? 'app' : 'user',
  ...(values.scopes !== undefined ? { scopes: values.scopes } : {}),
  ...(values.roles !== undefined ? { roles: values.roles.split(',').filter(Boolean) } : {}),
  ...(values.tenant !== undefined ? { tenantId: values.tenant } : {}),
  ...(values.audience !== undefined ? { audience: values.audience } : {}),
  ...(values['expires-in'] !== undefined ? { expiresInSeconds: Number(values['expires-in']) } : {}),
  claims,
};

void loadOrCreateDevKey().then(async (key) => {
  const token = await mintToken(
    {
      key,
      tenantId: DEV_TENANT_ID,
      clientId: DEV_CLIENT_ID,
      clientAppId: DEV_CALLER_APP_ID,
      issuers: issuersOf(DEV_AUTHORITY),
    },
    options,
  );
  process.stdout.write(`${token}\n`);
});
