// The on-behalf-of phase's Entra ID and Graph, in a process of their own so that their work (signing, verifying)
// is neither the server's nor the load generator's. Prints one JSON line with what the server needs, then serves.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevCertificates } from '../src/dev/dev-certificates';
import { startGraphStandIn } from '../src/dev/graph-stand-in';
import { startIdentityProvider } from '../src/dev/identity-provider';

async function main(): Promise<void> {
  const certificates = await createDevCertificates();
  const caFile = join(mkdtempSync(join(tmpdir(), 'bench-obo-')), 'ca.pem');
  writeFileSync(caFile, certificates.ca);
  const secret = randomBytes(24).toString('base64url');
  const idp = await startIdentityProvider({ tls: certificates.server, clientCredentials: { secrets: [secret] } });
  const graph = await startGraphStandIn({ idp, tls: certificates.server });
  const token = await idp.mint({ expiresInSeconds: 4 * 3600 });
  console.log(
    JSON.stringify({
      env: {
        AZURE_TENANT_ID: idp.tenantId,
        AZURE_CLIENT_ID: idp.clientId,
        AZURE_AUTHORITY_HOST: idp.url,
        OUTBOUND_CA_FILE: caFile,
        API_CLIENT_SECRET: secret,
        GRAPH_BASE_URL: graph.url,
      },
      token,
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
