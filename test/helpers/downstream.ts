import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevCertificates, type DevCertificates } from '../../src/dev/dev-certificates';
import { startGraphStandIn, type GraphStandIn } from '../../src/dev/graph-stand-in';
import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import type { ClientCredentials } from '../../src/dev/token-endpoint';

export const CLIENT_SECRET = 'local-test-secret-7f3a9c';

export interface OboWorld {
  readonly certificates: DevCertificates;
  readonly idp: IdentityProvider;
  readonly graph: GraphStandIn;
  /** A scratch directory for credential files. */
  readonly directory: string;
  /** The settings that point the API at this provider and stand-in, with the client secret as its credential. */
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * The identity provider (HTTPS, with its on-behalf-of grant) and the Graph stand-in, both with a certificate from
 * a CA made for this test file and trusted by the API under test only (OUTBOUND_CA_FILE).
 */
export async function startOboWorld(
  clientCredentials: ClientCredentials = { secrets: [CLIENT_SECRET] },
): Promise<OboWorld> {
  const certificates = await createDevCertificates();
  const directory = mkdtempSync(join(tmpdir(), 'obo-'));
  const caFile = join(directory, 'ca.pem');
  writeFileSync(caFile, certificates.ca);
  const idp = await startIdentityProvider({ tls: certificates.server, clientCredentials });
  const graph = await startGraphStandIn({ idp, tls: certificates.server });
  return {
    certificates,
    idp,
    graph,
    directory,
    env: { API_CLIENT_SECRET: CLIENT_SECRET, GRAPH_BASE_URL: graph.url, OUTBOUND_CA_FILE: caFile },
    async close() {
      await graph.close();
      await idp.close();
    },
  };
}

/**
 * The error of `profile` for an app-only caller, in a query whose `profile` starts at column 16: its
 * `@requiresScopes` admits users only, so no exchange is even tried.
 */
export const APP_ONLY_PROFILE_ERROR = {
  message: 'App-only tokens are not accepted by the field User.profile',
  path: ['hello', 'profile'],
  locations: [{ line: 1, column: 16 }],
  extensions: { code: 'FORBIDDEN', reason: 'app_tokens_not_accepted' },
};
