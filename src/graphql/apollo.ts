import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import type { GraphQLSchema } from 'graphql';
import type { Authorization } from '../authorization/permissions';
import type { Config } from '../config';
import { rejectUnauthorized } from '../http/reject-unauthorized';
import { refuseUnsupportedOperations } from '../http/unsupported-operations';
import type { OperationLimits } from '../limits/operation-limits';
import type { Audit } from '../observability/audit';
import { operationSpanPlugin, tracingEnabled } from '../observability/tracing';
import type { Context } from '../schema/context';
import { errorResponsePlugin, formatError } from './errors';
import type { FastPath } from './fast-path';

/** Apollo Server with the API's bounds, error mapping, audit and (outside production) Apollo Sandbox; started. */
export async function startApollo({
  config,
  schema,
  authorization,
  operations,
  audit,
  sandboxToken,
  fastPath,
}: {
  config: Config;
  schema: GraphQLSchema;
  authorization: Authorization;
  operations: OperationLimits;
  audit: Audit;
  sandboxToken: string | undefined;
  fastPath: FastPath | undefined;
}): Promise<ApolloServer<Context>> {
  const production = config.env === 'production';
  const apollo = new ApolloServer<Context>({
    // One shutdown path: main.ts's signal handlers call stop(); Apollo's own would stop it a second way.
    stopOnTerminationSignals: false,
    schema,
    formatError,
    introspection: !production,
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: production,
    allowBatchedHttpRequests: false,
    // A browser cannot send an Authorization header to another origin without a CORS preflight, so a request that
    // carries one is no CSRF risk; GraphQL clients that send queries as GET (urql) work with their defaults.
    // Anonymous GETs and text/plain POSTs still need apollo-require-preflight or x-apollo-operation-name.
    csrfPrevention: { requestHeaders: ['apollo-require-preflight', 'x-apollo-operation-name', 'authorization'] },
    parseOptions: operations.parseOptions,
    validationRules: [...operations.validationRules],
    // Their per-request hooks do not run for the requests the fast path answers: see src/graphql/fast-path.ts.
    plugins: [
      ...operations.plugins,
      errorResponsePlugin<Context>((errors, context) => audit.executionErrors(errors, context)),
      refuseUnsupportedOperations,
      ...(config.authzMode === 'reject'
        ? [rejectUnauthorized(authorization, (errors, context) => audit.executionErrors(errors, context))]
        : []),
      // Apollo's cache-control plugin wraps every field resolver to gather cache hints; this API gives none, and
      // its answers are per caller: every response says `no-store` (src/http/request-hooks.ts).
      ApolloServerPluginCacheControlDisabled(),
      ...(tracingEnabled() ? [operationSpanPlugin] : []),
      ...(fastPath ? [fastPath.plugin] : []),
      production
        ? ApolloServerPluginLandingPageDisabled()
        : ApolloServerPluginLandingPageLocalDefault({
            // Sandbox loads from Apollo's CDN (online only); its telemetry is off.
            embed: {
              runTelemetry: false,
              ...(sandboxToken && {
                initialState: { sharedHeaders: { Authorization: `Bearer ${sandboxToken}` } },
              }),
            },
            footer: false,
          }),
    ],
  });
  await apollo.start();
  return apollo;
}
