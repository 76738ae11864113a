import { ConfigError, loadConfig } from '../src/config';

// What production requires: the tenant and the API (which callers each operation admits, the schema says).
const required = {
  AZURE_TENANT_ID: '7b6a1c4e-0d3f-4c2a-9e51-3f8d2b7a6c10',
  AZURE_CLIENT_ID: 'b3c1e0f2-5a4d-4e6b-8c7a-9d2f1e0a3b45',
};

function problems(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('fills every default from the required settings, in production unless NODE_ENV says otherwise', () => {
    expect(loadConfig(required)).toEqual({
      env: 'production',
      envFromDefault: true,
      host: '0.0.0.0',
      port: 4000,
      logLevel: 'info',
      webConcurrency: 1,
      auth: {
        tenantId: required.AZURE_TENANT_ID,
        tenantType: 'workforce',
        clientId: required.AZURE_CLIENT_ID,
        authorityHost: 'https://login.microsoftonline.com',
        audiences: [`api://${required.AZURE_CLIENT_ID}`, required.AZURE_CLIENT_ID],
        allowedTenants: [],
        acceptedVersions: ['1.0', '2.0'],
        clockSkewSeconds: 300,
        employeeIdClaim: 'employeeid',
        appSpecificSigningKeys: false,
        allowTokensWithoutPermissions: false,
        keyRefetchCooldownSeconds: 30,
        keyRefreshIntervalSeconds: 3600,
        keyMaxStaleSeconds: 86400,
        httpTimeoutMs: 5000,
        tokenCacheMaxEntries: 10000,
        tokenCacheTtlSeconds: 300,
      },
      limits: { maxDepth: 6, maxAliases: 15, maxCost: 5000, maxTokens: 1000, maxDirectives: 50 },
      rateLimits: {
        authFailures: 20,
        authFailuresWindowSeconds: 60,
        verificationsInFlight: 16,
        callerRequests: 1000,
        callerWindowSeconds: 60,
        redisUrl: undefined,
        maxTrackedKeys: 100000,
      },
      http: {
        requestTimeoutMs: 30000,
        headersTimeoutMs: 10000,
        keepAliveTimeoutMs: 5000,
        maxConnections: 1000,
        maxConnectionsPerAddress: 500,
      },
      websocket: {
        connectionInitTimeoutMs: 10000,
        maxMessageBytes: 65536,
        maxSocketsPerCaller: 10,
        maxSocketsPerAddress: 100,
        maxOperationsPerSocket: 20,
        pingIntervalSeconds: 30,
        maxBufferedBytes: 262144,
        maxMessagesPerSecond: 100,
      },
      shutdown: { drainSeconds: 5, timeoutSeconds: 25 },
      trustProxy: 0,
      corsOrigins: [],
      logPii: false,
      telemetry: { enabled: false, serviceName: 'entra-graphql-api', metricsExporter: 'otlp' },
      authzMode: 'filter',
      downstream: {
        credential: null,
        graphBaseUrl: 'https://graph.microsoft.com',
        graphTimeoutMs: 5000,
        graphRetryBudgetSeconds: 10,
        oboCacheMaxEntries: 10000,
      },
      outboundCaFile: undefined,
    });
  });

  it('reads every documented setting', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '8080',
      LOG_LEVEL: 'warn',
      WEB_CONCURRENCY: '2',
      AZURE_TENANT_ID: 'organizations',
      AZURE_CLIENT_ID: required.AZURE_CLIENT_ID,
      AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.us',
      AZURE_AUDIENCES: 'api://my-api, https://api.contoso.example/',
      AZURE_ALLOWED_TENANTS: '0f0e0d0c-0b0a-4909-8807-060504030201,11111111-2222-4333-8444-555555555555',
      AZURE_ACCEPTED_TOKEN_VERSIONS: '2',
      AZURE_CLOCK_SKEW_SECONDS: '60',
      AZURE_EMPLOYEE_ID_CLAIM: 'employee_number',
      AZURE_APP_SPECIFIC_SIGNING_KEYS: 'true',
      AZURE_ALLOW_TOKENS_WITHOUT_PERMISSIONS: '1',
      AZURE_KEY_REFETCH_COOLDOWN_SECONDS: '10',
      AZURE_KEY_REFRESH_INTERVAL_SECONDS: '600',
      AZURE_KEY_MAX_STALE_SECONDS: '7200',
      AZURE_HTTP_TIMEOUT_MS: '2000',
      TOKEN_CACHE_MAX_ENTRIES: '0',
      TOKEN_CACHE_TTL_SECONDS: '60',
      AUTHZ_MODE: 'reject',
      GRAPHQL_MAX_DEPTH: '8',
      GRAPHQL_MAX_ALIASES: '5',
      GRAPHQL_MAX_COST: '100',
      GRAPHQL_MAX_TOKENS: '500',
      GRAPHQL_MAX_DIRECTIVES: '3',
      RATE_LIMIT_AUTH_FAILURES: '7',
      RATE_LIMIT_AUTH_FAILURES_WINDOW_SECONDS: '30',
      RATE_LIMIT_VERIFICATIONS_IN_FLIGHT: '4',
      RATE_LIMIT_CALLER_REQUESTS: '99',
      RATE_LIMIT_CALLER_WINDOW_SECONDS: '10',
      RATE_LIMIT_MAX_TRACKED_KEYS: '5000',
      HTTP_REQUEST_TIMEOUT_MS: '20000',
      HTTP_HEADERS_TIMEOUT_MS: '5000',
      HTTP_KEEP_ALIVE_TIMEOUT_MS: '65000',
      HTTP_MAX_CONNECTIONS: '300',
      HTTP_MAX_CONNECTIONS_PER_ADDRESS: '30',
      SHUTDOWN_DRAIN_SECONDS: '10',
      SHUTDOWN_TIMEOUT_SECONDS: '40',
      WS_CONNECTION_INIT_TIMEOUT_MS: '3000',
      WS_MAX_MESSAGE_BYTES: '32768',
      WS_MAX_SOCKETS_PER_CALLER: '3',
      WS_MAX_SOCKETS_PER_ADDRESS: '50',
      WS_MAX_OPERATIONS_PER_SOCKET: '5',
      WS_PING_INTERVAL_SECONDS: '20',
      WS_MAX_BUFFERED_BYTES: '65536',
      WS_MAX_MESSAGES_PER_SECOND: '10',
      REDIS_URL: 'redis://127.0.0.1:6379/0',
      TRUST_PROXY: '1',
      CORS_ORIGINS: 'https://app.contoso.example,http://localhost:3000',
      LOG_PII: 'true',
      // With a user-assigned managed identity, AZURE_CLIENT_ID is the identity's (Azure SDKs read it so).
      API_CLIENT_ID: '5d6e7f80-91a2-4b3c-8d4e-5f60718293a4',
      API_MANAGED_IDENTITY_ASSERTION: required.AZURE_CLIENT_ID.toUpperCase(),
      GRAPH_BASE_URL: 'https://graph.microsoft.us',
      GRAPH_TIMEOUT_MS: '2500',
      GRAPH_RETRY_BUDGET_SECONDS: '0',
      OBO_CACHE_MAX_ENTRIES: '500',
      OUTBOUND_CA_FILE: '/etc/ssl/proxy-ca.pem',
    });
    expect(config).toMatchObject({
      env: 'production',
      envFromDefault: false,
      host: '127.0.0.1',
      port: 8080,
      logLevel: 'warn',
      webConcurrency: 2,
      auth: {
        tenantId: 'organizations',
        clientId: '5d6e7f80-91a2-4b3c-8d4e-5f60718293a4',
        authorityHost: 'https://login.microsoftonline.us',
        audiences: ['api://my-api', 'https://api.contoso.example/'],
        allowedTenants: ['0f0e0d0c-0b0a-4909-8807-060504030201', '11111111-2222-4333-8444-555555555555'],
        acceptedVersions: ['2.0'],
        clockSkewSeconds: 60,
        employeeIdClaim: 'employee_number',
        appSpecificSigningKeys: true,
        allowTokensWithoutPermissions: true,
        keyRefetchCooldownSeconds: 10,
        keyRefreshIntervalSeconds: 600,
        keyMaxStaleSeconds: 7200,
        httpTimeoutMs: 2000,
        tokenCacheMaxEntries: 0,
        tokenCacheTtlSeconds: 60,
      },
      authzMode: 'reject',
      limits: { maxDepth: 8, maxAliases: 5, maxCost: 100, maxTokens: 500, maxDirectives: 3 },
      rateLimits: {
        authFailures: 7,
        authFailuresWindowSeconds: 30,
        verificationsInFlight: 4,
        callerRequests: 99,
        callerWindowSeconds: 10,
        redisUrl: 'redis://127.0.0.1:6379/0',
        maxTrackedKeys: 5000,
      },
      http: {
        requestTimeoutMs: 20000,
        headersTimeoutMs: 5000,
        keepAliveTimeoutMs: 65000,
        maxConnections: 300,
        maxConnectionsPerAddress: 30,
      },
      websocket: {
        connectionInitTimeoutMs: 3000,
        maxMessageBytes: 32768,
        maxSocketsPerCaller: 3,
        maxSocketsPerAddress: 50,
        maxOperationsPerSocket: 5,
        pingIntervalSeconds: 20,
        maxBufferedBytes: 65536,
        maxMessagesPerSecond: 10,
      },
      shutdown: { drainSeconds: 10, timeoutSeconds: 40 },
      trustProxy: 1,
      corsOrigins: ['https://app.contoso.example', 'http://localhost:3000'],
      logPii: true,
      downstream: {
        credential: { kind: 'managed_identity', identity: required.AZURE_CLIENT_ID },
        graphBaseUrl: 'https://graph.microsoft.us',
        graphTimeoutMs: 2500,
        graphRetryBudgetSeconds: 0,
        oboCacheMaxEntries: 500,
      },
      outboundCaFile: '/etc/ssl/proxy-ca.pem',
    });
    expect(Object.isFrozen(config) && Object.isFrozen(config.auth) && Object.isFrozen(config.limits)).toBe(true);
  });

  it('lists every problem at once, saying what to set', () => {
    expect(
      problems({
        NODE_ENV: 'staging',
        PORT: 'eighty',
        AZURE_AUTHORITY_HOST: 'http://login.microsoftonline.com',
        AZURE_ACCEPTED_TOKEN_VERSIONS: '3',
        AZURE_CLOCK_SKEW_SECONDS: '-5',
        AZURE_APP_SPECIFIC_SIGNING_KEYS: 'yes',
      }),
    ).toEqual([
      'NODE_ENV must be development, test or production',
      'PORT must be a whole number from 0 to 65535',
      'AZURE_TENANT_ID is required: the tenant GUID, or organizations / common for a multi-tenant API',
      'AZURE_AUTHORITY_HOST must be an https origin such as https://login.microsoftonline.us (plain http only for loopback)',
      'AZURE_ACCEPTED_TOKEN_VERSIONS must be 1, 2 or 1,2',
      'AZURE_CLOCK_SKEW_SECONDS must be a whole number from 0 to 3600',
      'AZURE_APP_SPECIFIC_SIGNING_KEYS must be true or false',
      "API_CLIENT_ID is required: the API's application (client) id (AZURE_CLIENT_ID is read when it is unset)",
    ]);
  });

  it('says what is wrong with malformed ids', () => {
    expect(problems({ ...required, AZURE_TENANT_ID: 'contoso', AZURE_CLIENT_ID: 'my-api' })).toEqual([
      'AZURE_TENANT_ID must be a tenant GUID, "organizations" or "common"',
      "AZURE_CLIENT_ID must be the API's application (client) id GUID (or set API_CLIENT_ID)",
    ]);
  });

  it('requires an allow-list of GUIDs in multi-tenant mode, and only there', () => {
    expect(problems({ ...required, AZURE_TENANT_ID: 'common' })).toEqual([
      'AZURE_ALLOWED_TENANTS is required when AZURE_TENANT_ID is organizations or common: list the accepted tenant GUIDs',
    ]);
    expect(problems({ ...required, AZURE_TENANT_ID: 'common', AZURE_ALLOWED_TENANTS: 'contoso' })).toEqual([
      'AZURE_ALLOWED_TENANTS must be tenant GUIDs, comma separated',
    ]);
    expect(problems({ ...required, AZURE_ALLOWED_TENANTS: '0f0e0d0c-0b0a-4909-8807-060504030201' })).toEqual([
      'AZURE_ALLOWED_TENANTS applies only when AZURE_TENANT_ID is organizations or common',
    ]);
  });

  it('refuses a malformed Redis URL and CORS origins that are not origins', () => {
    expect(problems({ ...required, REDIS_URL: 'localhost:6379', CORS_ORIGINS: 'https://app.example/path,*' })).toEqual([
      'REDIS_URL must be a redis:// or rediss:// URL',
      'CORS_ORIGINS must be origins such as https://app.contoso.example, comma separated',
    ]);
  });

  it('accepts plain http only for a loopback authority', () => {
    expect(loadConfig({ ...required, AZURE_AUTHORITY_HOST: 'http://127.0.0.1:4010' }).auth.authorityHost).toBe(
      'http://127.0.0.1:4010',
    );
    expect(problems({ ...required, AZURE_AUTHORITY_HOST: 'http://10.0.0.5:4010' })).toHaveLength(1);
  });
});

describe('settings that fail closed', () => {
  it('refuses a drain period as long as the shutdown deadline', () => {
    expect(problems({ ...required, SHUTDOWN_DRAIN_SECONDS: '30', SHUTDOWN_TIMEOUT_SECONDS: '30' })).toEqual([
      'SHUTDOWN_DRAIN_SECONDS must be shorter than SHUTDOWN_TIMEOUT_SECONDS',
    ]);
  });

  it('refuses a headers timeout longer than the request timeout', () => {
    expect(problems({ ...required, HTTP_REQUEST_TIMEOUT_MS: '1000', HTTP_HEADERS_TIMEOUT_MS: '2000' })).toEqual([
      'HTTP_HEADERS_TIMEOUT_MS must not be longer than HTTP_REQUEST_TIMEOUT_MS',
    ]);
  });

  it.each(['AZURE_AUDIENCES', 'CORS_ORIGINS'])(
    'refuses %s set to nothing or to empty items instead of dropping the check',
    (name) => {
      for (const value of ['', ' ', ' , ', 'a,,b', 'a,', ',a']) {
        expect(problems({ ...required, [name]: value })).toEqual([
          `${name} holds an empty item: list values separated by commas or spaces, or leave it unset`,
        ]);
      }
    },
  );

  it('reads lists separated by commas and/or white space, as scp is', () => {
    const config = loadConfig({
      ...required,
      CORS_ORIGINS: 'https://a.example https://b.example, https://c.example ,https://d.example',
      AZURE_ACCEPTED_TOKEN_VERSIONS: '1 2',
    });
    expect(config.corsOrigins).toEqual([
      'https://a.example',
      'https://b.example',
      'https://c.example',
      'https://d.example',
    ]);
    expect(config.auth.acceptedVersions).toEqual(['1.0', '2.0']);
  });

  it('reads tenant and client ids in any case as the lower-case GUIDs that tokens carry', () => {
    const config = loadConfig({
      ...required,
      AZURE_TENANT_ID: required.AZURE_TENANT_ID.toUpperCase(),
      AZURE_CLIENT_ID: required.AZURE_CLIENT_ID.toUpperCase(),
    });
    expect(config.auth).toMatchObject({
      tenantId: required.AZURE_TENANT_ID,
      clientId: required.AZURE_CLIENT_ID,
      audiences: [`api://${required.AZURE_CLIENT_ID}`, required.AZURE_CLIENT_ID],
    });
    const multi = loadConfig({
      ...required,
      AZURE_TENANT_ID: 'Organizations',
      AZURE_ALLOWED_TENANTS: required.AZURE_TENANT_ID.toUpperCase(),
    });
    expect(multi.auth).toMatchObject({ tenantId: 'organizations', allowedTenants: [required.AZURE_TENANT_ID] });
  });
});

describe('production by default, and the retired permission settings', () => {
  it('runs in production when NODE_ENV is unset, and says that it was not set', () => {
    expect(loadConfig(required)).toMatchObject({ env: 'production', envFromDefault: true });
    expect(loadConfig({ ...required, NODE_ENV: 'production' })).toMatchObject({ envFromDefault: false });
  });

  it('refuses to start with API_REQUIRED_SCOPES or API_REQUIRED_APP_ROLES, in any mode, naming what replaced them', () => {
    for (const NODE_ENV of ['production', 'development']) {
      expect(problems({ ...required, NODE_ENV, API_REQUIRED_SCOPES: '*', API_REQUIRED_APP_ROLES: 'none' })).toEqual([
        'API_REQUIRED_SCOPES is retired: each operation declares the delegated scopes it needs in the schema, with @requiresScopes (hello and greetings: access_as_user, in src/schema/hello.resolver.ts and greetings.resolver.ts); unset it (docs/authorization.md#retired-settings)',
        'API_REQUIRED_APP_ROLES is retired: each operation declares the app permissions it needs in the schema, with @requiresAppPermissions (hello and greetings: Hello.Read.All, in src/schema/hello.resolver.ts and greetings.resolver.ts); unset it (docs/authorization.md#retired-settings)',
      ]);
    }
  });

  it('takes AUTHZ_MODE filter (the default) or reject, and nothing else', () => {
    expect(loadConfig(required).authzMode).toBe('filter');
    expect(loadConfig({ ...required, AUTHZ_MODE: 'reject' }).authzMode).toBe('reject');
    expect(problems({ ...required, AUTHZ_MODE: 'Reject' })).toEqual(['AUTHZ_MODE must be filter or reject']);
    expect(problems({ ...required, AUTHZ_MOD: 'reject' })).toEqual([
      'AUTHZ_MOD is not a setting of this API: did you mean AUTHZ_MODE?',
    ]);
  });
});

describe('settings that are not settings', () => {
  it('refuses a misspelt setting, naming it and the closest real one', () => {
    expect(
      problems({ ...required, API_REQUIRED_SCOPE: 'Files.Read', API_REQUIRED_APP_ROLE: 'Hello.Read.All' }),
    ).toEqual([
      'API_REQUIRED_SCOPE is not a setting of this API, and API_REQUIRED_SCOPES, which it resembles, is retired: operations declare the permissions they need in the schema (docs/authorization.md)',
      'API_REQUIRED_APP_ROLE is not a setting of this API, and API_REQUIRED_APP_ROLES, which it resembles, is retired: operations declare the permissions they need in the schema (docs/authorization.md)',
    ]);
    expect(problems({ ...required, RATE_LIMIT_AUTH_FAILURE: '5', ws_max_message_bytes: '30000' })).toEqual([
      'RATE_LIMIT_AUTH_FAILURE is not a setting of this API: did you mean RATE_LIMIT_AUTH_FAILURES?',
      'ws_max_message_bytes is not a setting: did you mean WS_MAX_MESSAGE_BYTES? (names are upper case)',
    ]);
  });

  it("starts with Azure's own variables, proxies and Kubernetes service links, and ignores other prefixes", () => {
    expect(
      loadConfig({
        ...required,
        AZURE_CLIENT_SECRET: 'for an Azure SDK',
        AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token',
        AZURE_SUBSCRIPTION_ID: '0f0e0d0c-0b0a-4909-8807-060504030201',
        HTTP_PROXY: 'http://proxy:3128',
        http_proxy: 'http://proxy:3128',
        API_SERVICE_HOST: '10.0.0.1',
        API_PORT: 'tcp://10.0.0.1:80',
        API_PORT_80_TCP_ADDR: '10.0.0.1',
        REDIS_SERVICE_PORT_REDIS: '6379',
        NODE_OPTIONS: '--max-old-space-size=512',
        APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=x',
      }).env,
    ).toBe('production');
  });
});

describe('on-behalf-of settings', () => {
  it('reads each kind of credential', () => {
    expect(loadConfig({ ...required, API_CLIENT_SECRET: ' s3cret ' }).downstream.credential).toEqual({
      kind: 'secret',
      secret: ' s3cret ',
    });
    expect(
      loadConfig({ ...required, API_CLIENT_CERTIFICATE_PATH: '/run/api.pem', API_CLIENT_CERTIFICATE_PASSWORD: 'pw' })
        .downstream.credential,
    ).toEqual({ kind: 'certificate', path: '/run/api.pem', password: 'pw' });
    expect(loadConfig({ ...required, API_FEDERATED_TOKEN_FILE: '/var/run/token' }).downstream.credential).toEqual({
      kind: 'federated_token_file',
      path: '/var/run/token',
    });
    expect(loadConfig({ ...required, API_MANAGED_IDENTITY_ASSERTION: 'System' }).downstream.credential).toEqual({
      kind: 'managed_identity',
      identity: 'system',
    });
  });

  it('takes API_CLIENT_ID over AZURE_CLIENT_ID, and either alone', () => {
    const apiId = '5d6e7f80-91a2-4b3c-8d4e-5f60718293a4';
    expect(loadConfig({ ...required, API_CLIENT_ID: apiId }).auth.clientId).toBe(apiId);
    const { AZURE_CLIENT_ID: _unused, ...withoutClientId } = required;
    expect(loadConfig({ ...withoutClientId, API_CLIENT_ID: apiId }).auth).toMatchObject({
      clientId: apiId,
      audiences: [`api://${apiId}`, apiId],
    });
    expect(loadConfig(required).auth.clientId).toBe(required.AZURE_CLIENT_ID);
  });

  it('refuses contradictory or incomplete credential settings, listing what to set', () => {
    expect(problems({ ...required, API_CLIENT_SECRET: 'a', API_CLIENT_CERTIFICATE_PATH: '/run/api.pem' })).toEqual([
      'API_CLIENT_SECRET and API_CLIENT_CERTIFICATE_PATH are all set: set exactly one credential for on-behalf-of calls',
    ]);
    expect(problems({ ...required, API_CLIENT_CERTIFICATE_PASSWORD: 'pw' })).toEqual([
      'API_CLIENT_CERTIFICATE_PASSWORD is set without API_CLIENT_CERTIFICATE_PATH: set the certificate file too',
    ]);
    expect(problems({ ...required, GRAPH_BASE_URL: 'https://graph.microsoft.us', OBO_CACHE_MAX_ENTRIES: '5' })).toEqual(
      [
        'GRAPH_BASE_URL is set but on-behalf-of calls are off: set one of API_CLIENT_SECRET, API_CLIENT_CERTIFICATE_PATH, API_FEDERATED_TOKEN_FILE, API_MANAGED_IDENTITY_ASSERTION',
        'OBO_CACHE_MAX_ENTRIES is set but on-behalf-of calls are off: set one of API_CLIENT_SECRET, API_CLIENT_CERTIFICATE_PATH, API_FEDERATED_TOKEN_FILE, API_MANAGED_IDENTITY_ASSERTION',
      ],
    );
    expect(problems({ ...required, API_CLIENT_SECRET: ' ', API_FEDERATED_TOKEN_FILE: '' })).toEqual([
      'API_CLIENT_SECRET is empty: set it or unset it',
      "API_FEDERATED_TOKEN_FILE is empty: set a file's path or unset it",
      'API_CLIENT_SECRET and API_FEDERATED_TOKEN_FILE are all set: set exactly one credential for on-behalf-of calls',
    ]);
    expect(
      problems({
        ...required,
        API_CLIENT_SECRET: 'a',
        API_MANAGED_IDENTITY_ASSERTION: 'user-assigned',
        GRAPH_BASE_URL: 'https://graph.microsoft.com/v1.0',
      }),
    ).toEqual([
      "API_MANAGED_IDENTITY_ASSERTION must be system or a user-assigned managed identity's client id GUID",
      'GRAPH_BASE_URL must be an https origin such as https://graph.microsoft.com (no path)',
      'API_CLIENT_SECRET and API_MANAGED_IDENTITY_ASSERTION are all set: set exactly one credential for on-behalf-of calls',
    ]);
  });
});
