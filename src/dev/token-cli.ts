import { parseArgs } from 'node:util';
import { ConfigError, loadDevConfig } from '../config';
import { devAuthority, loadOrCreateDevKey, refuseProduction } from './dev-key';
import { DEV_CALLER_APP_ID, DEV_CLIENT_ID, DEV_TENANT_ID } from './identity-provider';
import { SIMULATE_CLAIM, SIMULATED_FAILURES } from './simulated-failures';
import { issuersOf, mintToken, type MintOptions } from './tokens';

/** The banner's token lives as long. */
const DEFAULT_LIFETIME_SECONDS = 12 * 3600;

const USAGE = `Usage: npm run -s token -- [options]
Prints an access token signed by the local identity provider of \`npm run dev\` (found through .dev/, or DEV_IDP_PORT).

  --v1                 a v1 token (default v2)
  --app                an app-only token (roles, no scp) instead of a user token
  --scopes "a b"       delegated scopes (default "access_as_user")
  --roles A,B          roles (default for --app: Hello.Read.All)
  --tenant GUID        tenant id (default the dev tenant)
  --audience AUD       aud claim (default the dev client id; api://<id> for --v1)
  --lifetime SECONDS   lifetime (default ${DEFAULT_LIFETIME_SECONDS}, 12 h, as the banner's token); --expires-in is the same
  --expired            a token that expired 10 minutes ago
  --claim name=value   add or replace a claim (repeatable; value parsed as JSON when it can be)
  --no-employee-id     leave out the employeeid claim
  --simulate FAILURE   a user token for which the local token endpoint or Graph stand-in answers User.profile with a
                       documented error: ${Object.keys(SIMULATED_FAILURES).join(', ')}
  --help`;

/** A mistake in the command line: one line on stderr and exit 2. */
function fail(message: string): never {
  console.error(`npm run token: ${message} (see --help)`);
  process.exit(2);
}

refuseProduction('npm run token');
let values;
try {
  ({ values } = parseArgs({
    options: {
      v1: { type: 'boolean', default: false },
      app: { type: 'boolean', default: false },
      scopes: { type: 'string' },
      roles: { type: 'string' },
      tenant: { type: 'string' },
      audience: { type: 'string' },
      lifetime: { type: 'string' },
      'expires-in': { type: 'string' },
      expired: { type: 'boolean', default: false },
      claim: { type: 'string', multiple: true },
      'no-employee-id': { type: 'boolean', default: false },
      simulate: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  }));
} catch (error) {
  const first = (error as Error).message.split('\n')[0] as string;
  // node:util calls a value that starts with '-' ambiguous ("--lifetime -600"); say what to do instead.
  const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec(first);
  fail(ambiguous ? `${ambiguous[1]} takes a whole number of seconds; for an expired token use --expired` : first);
}

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const claims: Record<string, unknown> = {};
for (const pair of values.claim ?? []) {
  const at = pair.indexOf('=');
  if (at < 1) fail(`--claim takes name=value, got '${pair}'`);
  const raw = pair.slice(at + 1);
  try {
    claims[pair.slice(0, at)] = JSON.parse(raw);
  } catch {
    claims[pair.slice(0, at)] = raw;
  }
}
if (values['no-employee-id']) claims['employeeid'] = undefined;
if (values.simulate !== undefined) {
  if (!Object.hasOwn(SIMULATED_FAILURES, values.simulate)) {
    fail(`--simulate takes one of ${Object.keys(SIMULATED_FAILURES).join(', ')}, got '${values.simulate}'`);
  }
  if (values.app) fail('--simulate applies to user tokens: the profile is fetched on behalf of a user');
  claims[SIMULATE_CLAIM] = values.simulate;
}

const lifetimeText = values.lifetime ?? values['expires-in'];
if (lifetimeText !== undefined && !/^[1-9]\d{0,8}$/.test(lifetimeText)) {
  fail(`--lifetime takes a whole number of seconds, got '${lifetimeText}'`);
}
const lifetime = lifetimeText === undefined ? DEFAULT_LIFETIME_SECONDS : Number(lifetimeText);
const now = Math.floor(Date.now() / 1000);

const options: MintOptions = {
  version: values.v1 ? '1.0' : '2.0',
  kind: values.app ? 'app' : 'user',
  ...(values.scopes !== undefined ? { scopes: values.scopes } : {}),
  ...(values.roles !== undefined ? { roles: values.roles.split(',').filter(Boolean) } : {}),
  ...(values.tenant !== undefined ? { tenantId: values.tenant } : {}),
  ...(values.audience !== undefined ? { audience: values.audience } : {}),
  // Expired ten minutes ago, beyond the server's default clock skew of five.
  ...(values.expired ? { issuedAt: now - lifetime - 600 } : { issuedAt: now }),
  expiresInSeconds: lifetime,
  claims,
};

let authority: string;
try {
  authority = devAuthority(loadDevConfig().idpPort);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  fail(error.problems.join('; '));
}

void loadOrCreateDevKey().then(async (key) => {
  const token = await mintToken(
    {
      key,
      tenantId: DEV_TENANT_ID,
      clientId: DEV_CLIENT_ID,
      clientAppId: DEV_CALLER_APP_ID,
      issuers: issuersOf(authority),
    },
    options,
  );
  process.stdout.write(`${token}\n`);
});
