import { closest } from 'fastest-levenshtein';
import { z } from 'zod';
import { GUID, isAllowedAuthority, MULTI_TENANT } from './auth/options';
import type { TokenVersion, VerifierOptions } from './auth';

/** The one reader of process.env. Every setting, its default and its check live here. */
export interface Config {
  /** Production unless NODE_ENV says otherwise: an unset NODE_ENV never turns on the IDE or introspection. */
  readonly env: 'development' | 'test' | 'production';
  /** Whether NODE_ENV was set, or `env` is the default (said at start-up). */
  readonly envFromDefault: boolean;
  readonly host: string;
  readonly port: number;
  readonly logLevel: string;
  /** Worker processes (node:cluster); 1 runs the server in the main process. */
  readonly webConcurrency: number;
  readonly auth: Omit<VerifierOptions, 'fetch' | 'now' | 'logger'> & {
    readonly audiences: readonly string[];
    readonly acceptedVersions: readonly TokenVersion[];
    readonly keyRefetchCooldownSeconds: number;
    readonly clockSkewSeconds: number;
  };
  /** Bounds on every GraphQL operation (graphql-armor and graphql-js's parser). */
  readonly limits: {
    readonly maxDepth: number;
    readonly maxAliases: number;
    readonly maxCost: number;
    readonly maxTokens: number;
    readonly maxDirectives: number;
  };
  readonly rateLimits: {
    /** Failed authentications per client address and window before that address gets 429. */
    readonly authFailures: number;
    /** New tokens of one client address verified at once per process; more wait their turn. */
    readonly verificationsInFlight: number;
    readonly authFailuresWindowSeconds: number;
    /** Requests per verified caller and window. */
    readonly callerRequests: number;
    readonly callerWindowSeconds: number;
    /** Shares the budgets between instances when set. */
    readonly redisUrl: string | undefined;
    /** Most addresses (and callers) whose counts one process keeps in memory; the least recent go first. */
    readonly maxTrackedKeys: number;
  };
  /** Bounds on connections, so that slow or idle clients cannot hold the server. */
  readonly http: {
    /** Time for a whole request (headers and body) to arrive; 408 and close after it. */
    readonly requestTimeoutMs: number;
    /** Time for the request headers to arrive. */
    readonly headersTimeoutMs: number;
    /** How long an idle keep-alive connection stays open. */
    readonly keepAliveTimeoutMs: number;
    /** Open connections at most; past it an idle one makes room, or the new one is closed at once. */
    readonly maxConnections: number;
    /** Open connections from one client address (an IPv6 /64) at most, when no proxy is trusted. */
    readonly maxConnectionsPerAddress: number;
  };
  /** GraphQL over WebSocket (graphql-ws) at /graphql. */
  readonly websocket: {
    /** Time a socket has to send connection_init (with its token) after opening. */
    readonly connectionInitTimeoutMs: number;
    /** Largest message a client may send; at least room for a connection_init with the largest token accepted. */
    readonly maxMessageBytes: number;
    /** Open sockets of one verified caller (user, or app), per process. */
    readonly maxSocketsPerCaller: number;
    /** Open sockets from one client address (an IPv6 /64), per process. */
    readonly maxSocketsPerAddress: number;
    /** Operations (subscriptions, and queries not yet answered) running at once on one socket. */
    readonly maxOperationsPerSocket: number;
    /** Seconds between pings to each socket; a socket that missed the previous pong is closed. */
    readonly pingIntervalSeconds: number;
    /** Bytes queued for a socket whose client does not read, past which the socket is cut. */
    readonly maxBufferedBytes: number;
    /** Messages one socket may send in one second; over it, the socket is closed. */
    readonly maxMessagesPerSecond: number;
  };
  readonly shutdown: {
    /** Seconds the server keeps serving after SIGTERM (readiness failing, connections closed after each answer). */
    readonly drainSeconds: number;
    /** Seconds from SIGTERM after which connections still open are cut. */
    readonly timeoutSeconds: number;
  };
  /** How many proxies in front of the API to trust for X-Forwarded-For (0: use the socket address). */
  readonly trustProxy: number;
  readonly corsOrigins: readonly string[];
  /** Log usernames and names of callers (personal data); off by default. */
  readonly logPii: boolean;
  /**
   * OpenTelemetry: on when an OTLP endpoint is set (and OTEL_SDK_DISABLED is not); the SDK reads the other standard
   * OTEL_* variables itself (docs/settings.md#opentelemetry).
   */
  readonly telemetry: {
    readonly enabled: boolean;
    readonly serviceName: string;
    readonly metricsExporter: 'otlp' | 'none';
  };
  /**
   * What an operation selecting a field its caller may not read gets: `filter`, that field null with an error at its
   * path and the rest answered; `reject`, the whole operation refused before anything runs.
   */
  readonly authzMode: 'filter' | 'reject';
  /** Calls to Microsoft Graph on behalf of the caller (OAuth 2.0 on-behalf-of). */
  readonly downstream: {
    /** How the API proves its identity to Entra ID; null turns on-behalf-of calls off. */
    readonly credential: ApiCredential | null;
    /** Graph's origin, e.g. https://graph.microsoft.us for US Government. */
    readonly graphBaseUrl: string;
    readonly graphTimeoutMs: number;
    /** Total seconds one request may wait for Graph's Retry-After before failing. */
    readonly graphRetryBudgetSeconds: number;
    /** Incoming tokens whose on-behalf-of tokens one process keeps in memory. */
    readonly oboCacheMaxEntries: number;
  };
  /** PEM file of certificate authorities trusted for calls to Entra ID and Graph, besides Node's own. */
  readonly outboundCaFile: string | undefined;
}

/** The API's own credential for the on-behalf-of flow (see docs/on-behalf-of.md). */
export type ApiCredential =
  | { readonly kind: 'secret'; readonly secret: string }
  | { readonly kind: 'certificate'; readonly path: string; readonly password: string | undefined }
  | { readonly kind: 'federated_token_file'; readonly path: string }
  /** A managed identity's token for api://AzureADTokenExchange: `system`, or a user-assigned identity's client id. */
  | { readonly kind: 'managed_identity'; readonly identity: 'system' | string };

/** The settings that each select one kind of credential; at most one may be set. */
export const CREDENTIAL_SETTINGS = [
  'API_CLIENT_SECRET',
  'API_CLIENT_CERTIFICATE_PATH',
  'API_FEDERATED_TOKEN_FILE',
  'API_MANAGED_IDENTITY_ASSERTION',
] as const;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

/**
 * A list separated by commas and/or white space (`scp` itself is space separated). Unset, it is empty; set, every
 * item must be there: `""`, `" , "` or `"a,,b"` is refused rather than read as "no restriction".
 */
const list = (name: string) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return [];
      const items = value.trim().split(/\s*,\s*|\s+/);
      if (items.includes('')) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} holds an empty item: list values separated by commas or spaces, or leave it unset`,
        });
      }
      return items;
    });

const flag = (name: string) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      const normalized = (value ?? 'false').trim().toLowerCase();
      if (normalized === 'true' || normalized === '1') return true;
      if (normalized === 'false' || normalized === '0' || normalized === '') return false;
      ctx.addIssue({ code: 'custom', message: `${name} must be true or false` });
      return false;
    });

const otlpEndpoint = (name: string) =>
  z
    .string()
    .trim()
    .optional()
    .refine((value) => !value || /^https?:\/\/\S+$/.test(value), {
      message: `${name} must be an http(s) URL such as http://localhost:4318`,
    })
    .transform((value) => (value === '' ? undefined : value));

/** The whole-number settings with their default and range, for the settings reference (a test compares them). */
export const NUMBER_SETTINGS: Record<
  string,
  { readonly fallback: number; readonly min: number; readonly max: number }
> = {};

const wholeNumber = (name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) => {
  NUMBER_SETTINGS[name] = { fallback, min, max };
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return fallback;
      const parsed = Number(value);
      if (!/^\d+$/.test(value.trim()) || parsed < min || parsed > max) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a whole number from ${min} to ${max}` });
      }
      return parsed;
    });
};

/** A value that must not be empty when set (a secret, a password); kept as given. */
const secret = (name: string) =>
  z
    .string()
    .optional()
    .refine((value) => value === undefined || value.trim() !== '', { message: `${name} is empty: set it or unset it` });

/** A file's path; the file itself is read (and checked) where it is used. */
const path = (name: string) =>
  z
    .string()
    .trim()
    .optional()
    .refine((value) => value === undefined || value !== '', {
      message: `${name} is empty: set a file's path or unset it`,
    });

/**
 * Settings that were read once and are no longer, each with what replaced it: set, they stop the start, since the
 * access they meant to restrict is now decided elsewhere.
 */
export const RETIRED_SETTINGS: Readonly<Record<string, string>> = {
  API_REQUIRED_SCOPES:
    'API_REQUIRED_SCOPES is retired: each operation declares the delegated scopes it needs in the schema, with @requiresScopes (hello and greetings: access_as_user, in src/schema/hello.resolver.ts and greetings.resolver.ts); unset it (docs/authorization.md#retired-settings)',
  API_REQUIRED_APP_ROLES:
    'API_REQUIRED_APP_ROLES is retired: each operation declares the app permissions it needs in the schema, with @requiresAppPermissions (hello and greetings: Hello.Read.All, in src/schema/hello.resolver.ts and greetings.resolver.ts); unset it (docs/authorization.md#retired-settings)',
};

/**
 * The prefixes of this API's settings. A variable with one of them that is not a setting is a mistake (a
 * misspelling such as API_REQUIRED_SCOPE would otherwise be ignored, and the access it meant to restrict left open),
 * unless another program is known to read it (FOREIGN_SETTINGS).
 */
export const SETTING_PREFIXES: readonly string[] = [
  'API_',
  'AUTHZ_',
  'AZURE_',
  'CORS_',
  'DEV_',
  'GRAPH_',
  'GRAPHQL_',
  'HTTP_',
  'LOG_',
  'OBO_',
  'OUTBOUND_',
  'RATE_LIMIT_',
  'REDIS_',
  'SHUTDOWN_',
  'TOKEN_CACHE_',
  'TRUST_',
  'WS_',
];

/**
 * Variables with one of the prefixes that the API does not read but other software sets or reads in the same
 * environment: the Azure SDKs and CLI (EnvironmentCredential, workload identity's webhook), and HTTP proxies. A
 * variable added here should be named in docs/settings.md's list too.
 */
export const FOREIGN_SETTINGS: ReadonlySet<string> = new Set([
  'AZURE_CLIENT_SECRET',
  'AZURE_CLIENT_CERTIFICATE_PATH',
  'AZURE_CLIENT_CERTIFICATE_PASSWORD',
  'AZURE_CLIENT_SEND_CERTIFICATE_CHAIN',
  'AZURE_USERNAME',
  'AZURE_PASSWORD',
  'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_TOKEN_CREDENTIALS',
  'AZURE_REGIONAL_AUTHORITY_NAME',
  'AZURE_POD_IDENTITY_AUTHORITY_HOST',
  'AZURE_ADDITIONALLY_ALLOWED_TENANTS',
  'AZURE_IDENTITY_DISABLE_MULTITENANTAUTH',
  'AZURE_SUBSCRIPTION_ID',
  'AZURE_RESOURCE_GROUP',
  'AZURE_LOCATION',
  'AZURE_ENV_NAME',
  'AZURE_LOG_LEVEL',
  'AZURE_CONFIG_DIR',
  'AZURE_EXTENSION_DIR',
  'AZURE_CORE_COLLECT_TELEMETRY',
  'AZURE_CORE_OUTPUT',
  'AZURE_CORE_ONLY_SHOW_ERRORS',
  'AZURE_HTTP_USER_AGENT',
  'AZURE_CLOUD_NAME',
  'HTTP_PROXY',
]);

// The variables Kubernetes sets for each service of the namespace (`<NAME>_SERVICE_HOST`, `<NAME>_PORT_80_TCP` …):
// a service named `api` or `redis` gives variables with this API's prefixes.
const SERVICE_LINK =
  /^[A-Z][A-Z0-9_]*_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)?)$/;

/**
 * Variables that look like settings and are not: a setting's name in another case, or a name with a setting's
 * prefix that no setting has, each with the closest real setting.
 */
function unknownSettings(env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  for (const name of Object.keys(env)) {
    const upper = name.toUpperCase();
    if (SETTING_NAMES.includes(upper)) {
      if (name !== upper) problems.push(`${name} is not a setting: did you mean ${upper}? (names are upper case)`);
      continue;
    }
    if (!SETTING_PREFIXES.some((prefix) => upper.startsWith(prefix))) continue;
    if (Object.hasOwn(RETIRED_SETTINGS, name)) continue;
    if (FOREIGN_SETTINGS.has(upper) || SERVICE_LINK.test(upper)) continue;
    const likely = closest(upper, [...SETTING_NAMES, ...Object.keys(RETIRED_SETTINGS)]);
    problems.push(
      Object.hasOwn(RETIRED_SETTINGS, likely)
        ? `${name} is not a setting of this API, and ${likely}, which it resembles, is retired: operations declare the permissions they need in the schema (docs/authorization.md)`
        : `${name} is not a setting of this API: did you mean ${likely}?`,
    );
  }
  return problems;
}

/**
 * Problems of settings taken together that depend on whether a setting is given at all, not on its value: listed
 * with every other problem, even when a value elsewhere is wrong.
 */
function presenceProblems(env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  if (env['API_CLIENT_ID'] === undefined && env['AZURE_CLIENT_ID'] === undefined) {
    problems.push(
      "API_CLIENT_ID is required: the API's application (client) id (AZURE_CLIENT_ID is read when it is unset)",
    );
  }
  for (const [name, replacement] of Object.entries(RETIRED_SETTINGS)) {
    if (env[name] !== undefined) problems.push(replacement);
  }
  const given = CREDENTIAL_SETTINGS.filter((name) => env[name] !== undefined);
  if (given.length > 1) {
    problems.push(`${given.join(' and ')} are all set: set exactly one credential for on-behalf-of calls`);
  }
  if (env['API_CLIENT_CERTIFICATE_PASSWORD'] !== undefined && env['API_CLIENT_CERTIFICATE_PATH'] === undefined) {
    problems.push(
      'API_CLIENT_CERTIFICATE_PASSWORD is set without API_CLIENT_CERTIFICATE_PATH: set the certificate file too',
    );
  }
  if (given.length === 0) {
    for (const name of ['GRAPH_BASE_URL', 'GRAPH_TIMEOUT_MS', 'GRAPH_RETRY_BUDGET_SECONDS', 'OBO_CACHE_MAX_ENTRIES']) {
      if (env[name] === undefined) continue;
      problems.push(`${name} is set but on-behalf-of calls are off: set one of ${CREDENTIAL_SETTINGS.join(', ')}`);
    }
  }
  return problems;
}

/** Workforce authorities of the public and national clouds: never an External ID tenant's. */
const WORKFORCE_AUTHORITY = /^login\.(microsoftonline\.(com|us)|partner\.microsoftonline\.cn|chinacloudapi\.cn)$/i;

const schema = z
  .object({
    NODE_ENV: z
      .enum(['development', 'test', 'production'], {
        message: 'NODE_ENV must be development, test or production',
      })
      .default('production'),
    HOST: z.string().trim().min(1).default('0.0.0.0'),
    PORT: wholeNumber('PORT', 4000, 0, 65535),
    WEB_CONCURRENCY: wholeNumber('WEB_CONCURRENCY', 1, 1, 64),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        message: 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
      })
      .default('info'),
    AZURE_TENANT_ID: z
      .string({
        message: 'AZURE_TENANT_ID is required: the tenant GUID, or organizations / common for a multi-tenant API',
      })
      .trim()
      // GUIDs compare without regard to case; tokens carry them in lower case.
      .toLowerCase()
      .refine((value) => GUID.test(value) || (MULTI_TENANT as readonly string[]).includes(value), {
        message: 'AZURE_TENANT_ID must be a tenant GUID, "organizations" or "common"',
      }),
    // API_CLIENT_ID wins: with a user-assigned managed identity, Azure's SDKs read AZURE_CLIENT_ID as its id.
    API_CLIENT_ID: z
      .string()
      .trim()
      .toLowerCase()
      .refine((value) => GUID.test(value), { message: "API_CLIENT_ID must be the API's application (client) id GUID" })
      .optional(),
    AZURE_CLIENT_ID: z
      .string()
      .trim()
      .toLowerCase()
      .refine((value) => GUID.test(value), {
        message: "AZURE_CLIENT_ID must be the API's application (client) id GUID (or set API_CLIENT_ID)",
      })
      .optional(),
    API_CLIENT_SECRET: secret('API_CLIENT_SECRET'),
    API_CLIENT_CERTIFICATE_PATH: path('API_CLIENT_CERTIFICATE_PATH'),
    API_CLIENT_CERTIFICATE_PASSWORD: secret('API_CLIENT_CERTIFICATE_PASSWORD'),
    API_FEDERATED_TOKEN_FILE: path('API_FEDERATED_TOKEN_FILE'),
    API_MANAGED_IDENTITY_ASSERTION: z
      .string()
      .trim()
      .toLowerCase()
      .refine((value) => value === 'system' || GUID.test(value), {
        message: "API_MANAGED_IDENTITY_ASSERTION must be system or a user-assigned managed identity's client id GUID",
      })
      .optional(),
    GRAPH_BASE_URL: z
      .string()
      .trim()
      .refine(
        (value) => URL.canParse(value) && new URL(value).protocol === 'https:' && new URL(value).origin === value,
        {
          message: 'GRAPH_BASE_URL must be an https origin such as https://graph.microsoft.com (no path)',
        },
      )
      .optional(),
    GRAPH_TIMEOUT_MS: wholeNumber('GRAPH_TIMEOUT_MS', 5000, 100, 60000),
    GRAPH_RETRY_BUDGET_SECONDS: wholeNumber('GRAPH_RETRY_BUDGET_SECONDS', 10, 0, 120),
    OBO_CACHE_MAX_ENTRIES: wholeNumber('OBO_CACHE_MAX_ENTRIES', 10000, 1, 10000000),
    OUTBOUND_CA_FILE: path('OUTBOUND_CA_FILE'),
    AZURE_AUTHORITY_HOST: z.string().trim().default('https://login.microsoftonline.com').refine(isAllowedAuthority, {
      message:
        'AZURE_AUTHORITY_HOST must be an https origin such as https://login.microsoftonline.us (plain http only for loopback)',
    }),
    AZURE_AUDIENCES: list('AZURE_AUDIENCES'),
    AZURE_ALLOWED_TENANTS: list('AZURE_ALLOWED_TENANTS').transform((tenants) =>
      tenants.map((tenant) => tenant.toLowerCase()),
    ),
    AZURE_TENANT_TYPE: z
      .enum(['workforce', 'external'], { message: 'AZURE_TENANT_TYPE must be workforce or external' })
      .default('workforce'),
    // Empty means the tenant type's default: both for a workforce tenant, v2 for External ID.
    AZURE_ACCEPTED_TOKEN_VERSIONS: list('AZURE_ACCEPTED_TOKEN_VERSIONS').transform((items, ctx) => {
      if (items.length === 0) return [] as TokenVersion[];
      if (!items.every((item) => item === '1' || item === '2')) {
        ctx.addIssue({ code: 'custom', message: 'AZURE_ACCEPTED_TOKEN_VERSIONS must be 1, 2 or 1,2' });
      }
      return [...new Set(items)].map((item) => `${item}.0` as TokenVersion);
    }),
    AZURE_CLOCK_SKEW_SECONDS: wholeNumber('AZURE_CLOCK_SKEW_SECONDS', 300, 0, 3600),
    AZURE_EMPLOYEE_ID_CLAIM: z
      .string()
      .trim()
      .min(1, 'AZURE_EMPLOYEE_ID_CLAIM must name a claim')
      .default('employeeid'),
    AZURE_APP_SPECIFIC_SIGNING_KEYS: flag('AZURE_APP_SPECIFIC_SIGNING_KEYS'),
    AZURE_ALLOW_TOKENS_WITHOUT_PERMISSIONS: flag('AZURE_ALLOW_TOKENS_WITHOUT_PERMISSIONS'),
    AZURE_KEY_REFETCH_COOLDOWN_SECONDS: wholeNumber('AZURE_KEY_REFETCH_COOLDOWN_SECONDS', 30, 1, 3600),
    AZURE_KEY_REFRESH_INTERVAL_SECONDS: wholeNumber('AZURE_KEY_REFRESH_INTERVAL_SECONDS', 3600, 60, 86400),
    AZURE_KEY_MAX_STALE_SECONDS: wholeNumber('AZURE_KEY_MAX_STALE_SECONDS', 86400, 60, 7 * 86400),
    AZURE_HTTP_TIMEOUT_MS: wholeNumber('AZURE_HTTP_TIMEOUT_MS', 5000, 100, 60000),
    TOKEN_CACHE_MAX_ENTRIES: wholeNumber('TOKEN_CACHE_MAX_ENTRIES', 10000, 0, 10000000),
    TOKEN_CACHE_TTL_SECONDS: wholeNumber('TOKEN_CACHE_TTL_SECONDS', 300, 1, 86400),
    AUTHZ_MODE: z.enum(['filter', 'reject'], { message: 'AUTHZ_MODE must be filter or reject' }).default('filter'),
    GRAPHQL_MAX_DEPTH: wholeNumber('GRAPHQL_MAX_DEPTH', 6, 1, 100),
    GRAPHQL_MAX_ALIASES: wholeNumber('GRAPHQL_MAX_ALIASES', 15, 0, 1000),
    GRAPHQL_MAX_COST: wholeNumber('GRAPHQL_MAX_COST', 5000, 1, 1000000),
    GRAPHQL_MAX_TOKENS: wholeNumber('GRAPHQL_MAX_TOKENS', 1000, 10, 100000),
    GRAPHQL_MAX_DIRECTIVES: wholeNumber('GRAPHQL_MAX_DIRECTIVES', 50, 0, 1000),
    RATE_LIMIT_AUTH_FAILURES: wholeNumber('RATE_LIMIT_AUTH_FAILURES', 20, 1, 1000000),
    RATE_LIMIT_AUTH_FAILURES_WINDOW_SECONDS: wholeNumber('RATE_LIMIT_AUTH_FAILURES_WINDOW_SECONDS', 60, 1, 86400),
    RATE_LIMIT_VERIFICATIONS_IN_FLIGHT: wholeNumber('RATE_LIMIT_VERIFICATIONS_IN_FLIGHT', 16, 1, 10000),
    RATE_LIMIT_CALLER_REQUESTS: wholeNumber('RATE_LIMIT_CALLER_REQUESTS', 1000, 1, 1000000000),
    RATE_LIMIT_CALLER_WINDOW_SECONDS: wholeNumber('RATE_LIMIT_CALLER_WINDOW_SECONDS', 60, 1, 86400),
    RATE_LIMIT_MAX_TRACKED_KEYS: wholeNumber('RATE_LIMIT_MAX_TRACKED_KEYS', 100000, 100, 10000000),
    REDIS_URL: z
      .string()
      .trim()
      .optional()
      .refine((value) => !value || /^rediss?:\/\/\S+$/.test(value), {
        message: 'REDIS_URL must be a redis:// or rediss:// URL',
      }),
    TRUST_PROXY: wholeNumber('TRUST_PROXY', 0, 0, 10),
    HTTP_REQUEST_TIMEOUT_MS: wholeNumber('HTTP_REQUEST_TIMEOUT_MS', 30000, 100, 3600000),
    HTTP_HEADERS_TIMEOUT_MS: wholeNumber('HTTP_HEADERS_TIMEOUT_MS', 10000, 100, 3600000),
    HTTP_KEEP_ALIVE_TIMEOUT_MS: wholeNumber('HTTP_KEEP_ALIVE_TIMEOUT_MS', 5000, 100, 3600000),
    HTTP_MAX_CONNECTIONS: wholeNumber('HTTP_MAX_CONNECTIONS', 1000, 1, 1000000),
    HTTP_MAX_CONNECTIONS_PER_ADDRESS: wholeNumber('HTTP_MAX_CONNECTIONS_PER_ADDRESS', 500, 1, 1000000),
    WS_CONNECTION_INIT_TIMEOUT_MS: wholeNumber('WS_CONNECTION_INIT_TIMEOUT_MS', 10000, 100, 600000),
    WS_MAX_MESSAGE_BYTES: wholeNumber('WS_MAX_MESSAGE_BYTES', 65536, 20480, 16777216),
    WS_MAX_SOCKETS_PER_CALLER: wholeNumber('WS_MAX_SOCKETS_PER_CALLER', 10, 1, 100000),
    WS_MAX_SOCKETS_PER_ADDRESS: wholeNumber('WS_MAX_SOCKETS_PER_ADDRESS', 100, 1, 1000000),
    WS_MAX_OPERATIONS_PER_SOCKET: wholeNumber('WS_MAX_OPERATIONS_PER_SOCKET', 20, 1, 10000),
    WS_PING_INTERVAL_SECONDS: wholeNumber('WS_PING_INTERVAL_SECONDS', 30, 1, 3600),
    WS_MAX_BUFFERED_BYTES: wholeNumber('WS_MAX_BUFFERED_BYTES', 262144, 16384, 67108864),
    WS_MAX_MESSAGES_PER_SECOND: wholeNumber('WS_MAX_MESSAGES_PER_SECOND', 100, 1, 100000),
    SHUTDOWN_DRAIN_SECONDS: wholeNumber('SHUTDOWN_DRAIN_SECONDS', 5, 0, 600),
    SHUTDOWN_TIMEOUT_SECONDS: wholeNumber('SHUTDOWN_TIMEOUT_SECONDS', 25, 1, 3600),
    CORS_ORIGINS: list('CORS_ORIGINS').refine((origins) => origins.every(isOrigin), {
      message: 'CORS_ORIGINS must be origins such as https://app.contoso.example, comma separated',
    }),
    LOG_PII: flag('LOG_PII'),
    OTEL_SDK_DISABLED: flag('OTEL_SDK_DISABLED'),
    OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint('OTEL_EXPORTER_OTLP_ENDPOINT'),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpEndpoint('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'),
    OTEL_SERVICE_NAME: z.string().trim().min(1).default('entra-graphql-api'),
    OTEL_METRICS_EXPORTER: z
      .enum(['otlp', 'none'], { message: 'OTEL_METRICS_EXPORTER must be otlp or none' })
      .default('otlp'),
  })
  .superRefine((env, ctx) => {
    const multiTenant = (MULTI_TENANT as readonly string[]).includes(env.AZURE_TENANT_ID);
    if (multiTenant && env.AZURE_ALLOWED_TENANTS.length === 0) {
      ctx.addIssue({
        code: 'custom',
        message:
          'AZURE_ALLOWED_TENANTS is required when AZURE_TENANT_ID is organizations or common: list the accepted tenant GUIDs',
      });
    }
    if (!multiTenant && env.AZURE_ALLOWED_TENANTS.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'AZURE_ALLOWED_TENANTS applies only when AZURE_TENANT_ID is organizations or common',
      });
    }
    const authority = URL.canParse(env.AZURE_AUTHORITY_HOST) ? new URL(env.AZURE_AUTHORITY_HOST).hostname : '';
    if (env.AZURE_TENANT_TYPE === 'external') {
      if (multiTenant) {
        ctx.addIssue({
          code: 'custom',
          message: 'AZURE_TENANT_TYPE=external needs the External ID tenant GUID in AZURE_TENANT_ID',
        });
      }
      if (WORKFORCE_AUTHORITY.test(authority)) {
        ctx.addIssue({
          code: 'custom',
          message:
            "AZURE_TENANT_TYPE=external needs AZURE_AUTHORITY_HOST set to the tenant's https://<subdomain>.ciamlogin.com or its custom URL domain",
        });
      }
      if (env.AZURE_ACCEPTED_TOKEN_VERSIONS.includes('1.0')) {
        ctx.addIssue({ code: 'custom', message: 'AZURE_ACCEPTED_TOKEN_VERSIONS must be 2 for an External ID tenant' });
      }
    } else if (/(\.|^)ciamlogin\.com$/i.test(authority)) {
      ctx.addIssue({
        code: 'custom',
        message: 'AZURE_AUTHORITY_HOST is an External ID (ciamlogin.com) authority: set AZURE_TENANT_TYPE=external too',
      });
    }
    if (env.SHUTDOWN_DRAIN_SECONDS >= env.SHUTDOWN_TIMEOUT_SECONDS) {
      ctx.addIssue({ code: 'custom', message: 'SHUTDOWN_DRAIN_SECONDS must be shorter than SHUTDOWN_TIMEOUT_SECONDS' });
    }
    if (env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        message: 'HTTP_HEADERS_TIMEOUT_MS must not be longer than HTTP_REQUEST_TIMEOUT_MS',
      });
    }
    if (!env.AZURE_ALLOWED_TENANTS.every((tenant) => GUID.test(tenant))) {
      ctx.addIssue({ code: 'custom', message: 'AZURE_ALLOWED_TENANTS must be tenant GUIDs, comma separated' });
    }
  });

/** Settings of the dev tools only (`npm run dev`, `npm run token`); the server never reads them. */
const devSchema = z.object({
  DEV_IDP_PORT: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return undefined;
      const port = Number(value);
      if (!/^\d+$/.test(value.trim()) || port > 65535) {
        ctx.addIssue({ code: 'custom', message: 'DEV_IDP_PORT must be a whole number from 0 to 65535' });
      }
      return port;
    }),
});

export interface DevConfig {
  /** Port of the local identity provider; undefined when not set (the dev tools then use what they recorded, or 4010). */
  readonly idpPort: number | undefined;
}

/** Reads the dev tools' own settings; throws a ConfigError listing every problem. */
export function loadDevConfig(env: NodeJS.ProcessEnv = process.env): DevConfig {
  const parsed = devSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => issue.message));
  return Object.freeze({ idpPort: parsed.data.DEV_IDP_PORT });
}

/** Every environment variable the code reads (docs/settings.md must name each one; test/docs.test.ts checks). */
export const SETTING_NAMES: readonly string[] = Object.freeze([
  ...Object.keys(schema.shape),
  ...Object.keys(devSchema.shape),
]);

function isOrigin(value: string): boolean {
  return URL.canParse(value) && new URL(value).origin === value;
}

/** Reads and checks the environment once; throws a ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  const problems = [
    ...(parsed.success ? [] : parsed.error.issues.map((issue) => issue.message)),
    ...presenceProblems(env),
    ...unknownSettings(env),
  ];
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  const clientId = (e.API_CLIENT_ID ?? e.AZURE_CLIENT_ID) as string;
  return Object.freeze({
    env: e.NODE_ENV,
    envFromDefault: env['NODE_ENV'] === undefined,
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    webConcurrency: e.WEB_CONCURRENCY,
    auth: Object.freeze({
      tenantId: e.AZURE_TENANT_ID,
      tenantType: e.AZURE_TENANT_TYPE,
      clientId,
      authorityHost: e.AZURE_AUTHORITY_HOST,
      audiences: e.AZURE_AUDIENCES.length > 0 ? e.AZURE_AUDIENCES : [`api://${clientId}`, clientId],
      allowedTenants: e.AZURE_ALLOWED_TENANTS,
      acceptedVersions:
        e.AZURE_ACCEPTED_TOKEN_VERSIONS.length > 0
          ? e.AZURE_ACCEPTED_TOKEN_VERSIONS
          : e.AZURE_TENANT_TYPE === 'external'
            ? (['2.0'] as const)
            : (['1.0', '2.0'] as const),
      clockSkewSeconds: e.AZURE_CLOCK_SKEW_SECONDS,
      employeeIdClaim: e.AZURE_EMPLOYEE_ID_CLAIM,
      appSpecificSigningKeys: e.AZURE_APP_SPECIFIC_SIGNING_KEYS,
      allowTokensWithoutPermissions: e.AZURE_ALLOW_TOKENS_WITHOUT_PERMISSIONS,
      keyRefetchCooldownSeconds: e.AZURE_KEY_REFETCH_COOLDOWN_SECONDS,
      keyRefreshIntervalSeconds: e.AZURE_KEY_REFRESH_INTERVAL_SECONDS,
      keyMaxStaleSeconds: e.AZURE_KEY_MAX_STALE_SECONDS,
      httpTimeoutMs: e.AZURE_HTTP_TIMEOUT_MS,
      tokenCacheMaxEntries: e.TOKEN_CACHE_MAX_ENTRIES,
      tokenCacheTtlSeconds: e.TOKEN_CACHE_TTL_SECONDS,
    }),
    limits: Object.freeze({
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxCost: e.GRAPHQL_MAX_COST,
      maxTokens: e.GRAPHQL_MAX_TOKENS,
      maxDirectives: e.GRAPHQL_MAX_DIRECTIVES,
    }),
    rateLimits: Object.freeze({
      authFailures: e.RATE_LIMIT_AUTH_FAILURES,
      authFailuresWindowSeconds: e.RATE_LIMIT_AUTH_FAILURES_WINDOW_SECONDS,
      verificationsInFlight: e.RATE_LIMIT_VERIFICATIONS_IN_FLIGHT,
      callerRequests: e.RATE_LIMIT_CALLER_REQUESTS,
      callerWindowSeconds: e.RATE_LIMIT_CALLER_WINDOW_SECONDS,
      redisUrl: e.REDIS_URL || undefined,
      maxTrackedKeys: e.RATE_LIMIT_MAX_TRACKED_KEYS,
    }),
    http: Object.freeze({
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: e.HTTP_MAX_CONNECTIONS,
      maxConnectionsPerAddress: Math.min(e.HTTP_MAX_CONNECTIONS_PER_ADDRESS, e.HTTP_MAX_CONNECTIONS),
    }),
    websocket: Object.freeze({
      connectionInitTimeoutMs: e.WS_CONNECTION_INIT_TIMEOUT_MS,
      maxMessageBytes: e.WS_MAX_MESSAGE_BYTES,
      maxSocketsPerCaller: e.WS_MAX_SOCKETS_PER_CALLER,
      maxSocketsPerAddress: e.WS_MAX_SOCKETS_PER_ADDRESS,
      maxOperationsPerSocket: e.WS_MAX_OPERATIONS_PER_SOCKET,
      pingIntervalSeconds: e.WS_PING_INTERVAL_SECONDS,
      maxBufferedBytes: e.WS_MAX_BUFFERED_BYTES,
      maxMessagesPerSecond: e.WS_MAX_MESSAGES_PER_SECOND,
    }),
    shutdown: Object.freeze({ drainSeconds: e.SHUTDOWN_DRAIN_SECONDS, timeoutSeconds: e.SHUTDOWN_TIMEOUT_SECONDS }),
    trustProxy: e.TRUST_PROXY,
    corsOrigins: e.CORS_ORIGINS,
    logPii: e.LOG_PII,
    telemetry: Object.freeze({
      enabled:
        !e.OTEL_SDK_DISABLED &&
        (e.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined || e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined),
      serviceName: e.OTEL_SERVICE_NAME,
      metricsExporter: e.OTEL_METRICS_EXPORTER,
    }),
    authzMode: e.AUTHZ_MODE,
    downstream: Object.freeze({
      credential: credentialOf(e),
      graphBaseUrl: e.GRAPH_BASE_URL ?? 'https://graph.microsoft.com',
      graphTimeoutMs: e.GRAPH_TIMEOUT_MS,
      graphRetryBudgetSeconds: e.GRAPH_RETRY_BUDGET_SECONDS,
      oboCacheMaxEntries: e.OBO_CACHE_MAX_ENTRIES,
    }),
    outboundCaFile: e.OUTBOUND_CA_FILE,
  });
}

function credentialOf(e: z.infer<typeof schema>): ApiCredential | null {
  if (e.API_CLIENT_SECRET !== undefined) return Object.freeze({ kind: 'secret', secret: e.API_CLIENT_SECRET });
  if (e.API_CLIENT_CERTIFICATE_PATH !== undefined) {
    return Object.freeze({
      kind: 'certificate',
      path: e.API_CLIENT_CERTIFICATE_PATH,
      password: e.API_CLIENT_CERTIFICATE_PASSWORD,
    });
  }
  if (e.API_FEDERATED_TOKEN_FILE !== undefined) {
    return Object.freeze({ kind: 'federated_token_file', path: e.API_FEDERATED_TOKEN_FILE });
  }
  if (e.API_MANAGED_IDENTITY_ASSERTION !== undefined) {
    return Object.freeze({ kind: 'managed_identity', identity: e.API_MANAGED_IDENTITY_ASSERTION });
  }
  return null;
}
