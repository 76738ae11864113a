import { print, type DocumentNode } from 'graphql';
import { loadConfig } from '../../src/config';
import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import { createLogger } from '../../src/observability/logger';
import { createServer, type AppServer, type ServerOptions } from '../../src/server';
import type { TokenVerifier } from '../../src/auth';

export interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
}

export interface TestServer {
  url: string;
  idp: IdentityProvider;
  server: AppServer;
  /** Log lines as pino wrote them, parsed. */
  logs: Record<string, unknown>[];
  /** Raw log output, to check that nothing secret was written. */
  rawLogs(): string;
  queryWithToken(token: string, document: DocumentNode | string): Promise<Reply>;
  queryWithoutToken(document: DocumentNode | string): Promise<Reply>;
  post(body: string, headers: Record<string, string>): Promise<Reply>;
  get(path: string, headers?: Record<string, string>): Promise<Reply>;
  close(): Promise<void>;
}

export const TEST_ENV = {
  NODE_ENV: 'test',
  LOG_LEVEL: 'info',
  // Test servers stop at once; the shutdown tests set their own drain period.
  SHUTDOWN_DRAIN_SECONDS: '0',
};

/** The real server on port 0, verifying against a real local identity provider. */
export async function createTestServer(
  env: Record<string, string> = {},
  idp?: IdentityProvider,
  verifier?: TokenVerifier,
  options: Pick<ServerOptions, 'sandboxToken' | 'bare' | 'policies'> = {},
): Promise<TestServer> {
  const provider = idp ?? (await startIdentityProvider());
  const chunks: string[] = [];
  const logger = createLogger(env['LOG_LEVEL'] ?? TEST_ENV.LOG_LEVEL, { write: (chunk: string) => chunks.push(chunk) });
  const config = loadConfig({
    ...TEST_ENV,
    AZURE_TENANT_ID: provider.tenantId,
    AZURE_CLIENT_ID: provider.clientId,
    AZURE_AUTHORITY_HOST: provider.url,
    ...env,
  });
  const server = await createServer({ config, logger, ...(verifier && { verifier }), ...options });
  const url = await server.listen(0, '127.0.0.1');

  async function send(path: string, init: RequestInit): Promise<Reply> {
    const response = await fetch(`${url}${path}`, init);
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body };
  }
  const post = (body: string, headers: Record<string, string>) =>
    send('/graphql', { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  const query = (document: DocumentNode | string, headers: Record<string, string>) =>
    post(JSON.stringify({ query: typeof document === 'string' ? document : print(document) }), headers);

  return {
    url,
    idp: provider,
    server,
    get logs() {
      return chunks.map((chunk) => JSON.parse(chunk) as Record<string, unknown>);
    },
    rawLogs: () => chunks.join(''),
    queryWithToken: (token, document) => query(document, { authorization: `Bearer ${token}` }),
    queryWithoutToken: (document) => query(document, {}),
    post,
    get: (path, headers = {}) => send(path, { headers }),
    async close() {
      await server.stop();
      if (!idp) await provider.close();
    },
  };
}

/** A test server of its own with `env`, verifying against `idp`, closed after `run` whatever `run` throws. */
export async function withTestServer(
  env: Record<string, string>,
  idp: IdentityProvider,
  run: (api: TestServer) => Promise<void>,
): Promise<void> {
  const api = await createTestServer(env, idp);
  try {
    await run(api);
  } finally {
    await api.close();
  }
}
