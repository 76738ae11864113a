import { ApolloServer } from '@apollo/server';
import { applyMiddleware } from 'graphql-middleware';
import { AUTH_REASONS, AuthError } from '../src/auth';
import { allow, rule } from 'graphql-shield';
import { permissions } from '../src/authorization/permissions';
import {
  authFailure,
  formatError,
  errorResponsePlugin,
  unauthenticated,
  unsupportedOperation,
  wwwAuthenticate,
} from '../src/graphql/errors';
import { refuseUnsupportedOperations } from '../src/http/unsupported-operations';
import { buildBareSchema } from '../src/schema/build-schema';
import type { Context } from '../src/schema/context';
import { principals } from './helpers/principals';
import { makeExecutableSchema } from './schema/small-schema';

// hello needs a caller and its username is readable; every other field is left to the deny-by-default fallback.
const tree = {
  Query: { hello: rule()((_parent, _args, { principal }: Context) => principal !== null || unauthenticated()) },
  User: { username: allow },
};

function server(withRules: boolean) {
  const schema = withRules
    ? applyMiddleware(makeExecutableSchema(), permissions({ tree, policies: {} }))
    : makeExecutableSchema();
  return new ApolloServer<Context>({ schema, formatError, plugins: [errorResponsePlugin<Context>()] });
}

async function run(query: string, principal = principals.v2User as Context['principal'], withRules = true) {
  const response = await server(withRules).executeOperation({ query }, { contextValue: { principal } });
  if (response.body.kind !== 'single') throw new Error('expected a single result');
  return { status: response.http.status, headers: response.http.headers, result: response.body.singleResult };
}

describe('HTTP status of GraphQL results', () => {
  it('keeps 200 when a data object came back next to an authentication error', async () => {
    const { status, headers, result } = await run('{ hello { username } open }', null);
    expect(status).toBeUndefined();
    expect(headers.get('www-authenticate')).toBeUndefined();
    expect(result.data).toEqual({ hello: null, open: null });
    expect(result.errors?.map((error) => error.extensions?.['code']).sort()).toEqual(['FORBIDDEN', 'UNAUTHENTICATED']);
  });

  it('keeps 200 when errors of different kinds come without data', async () => {
    const { status, result } = await run('{ needsScope needsLogin }', null, false);
    expect(status).toBeUndefined();
    expect(result.data).toBeNull();
    expect(result.errors?.map((error) => error.extensions?.['code'])).toEqual(['FORBIDDEN', 'UNAUTHENTICATED']);
  });

  it('masks an unexpected resolver error and keeps the partial data', async () => {
    const { status, result } = await run('{ open broken }', principals.v2User, false);
    expect(status).toBeUndefined();
    expect(result).toEqual({
      data: { open: 'open', broken: null },
      errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }],
    });
    expect(JSON.stringify(result)).not.toContain('hunter2');
  });

  it('leaves a validation error alone', async () => {
    const { status, result } = await run('{ nope }');
    expect(status).toBe(400);
    expect(result.errors?.[0]?.extensions?.['code']).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});

describe('error mapping', () => {
  it('writes WWW-Authenticate as RFC 6750 says, dropping characters it does not allow', () => {
    expect(wwwAuthenticate()).toBe('Bearer');
    expect(wwwAuthenticate({ error: 'invalid_token', error_description: 'say "hi" \\ ok\u00e9\n' })).toBe(
      'Bearer error="invalid_token", error_description="say hi  ok"',
    );
  });

  it('maps each category to its status, code and headers', () => {
    const unavailable = authFailure(new AuthError('keys_unavailable', {}), 30);
    expect(unavailable.extensions).toEqual({
      code: 'SERVICE_UNAVAILABLE',
      reason: 'keys_unavailable',
      retryAfterSeconds: 30,
      http: { status: 503, headers: new Map([['retry-after', '30']]) },
    });
    const badRequest = authFailure(new AuthError('token_too_large', {}), 30);
    expect(badRequest.extensions['code']).toBe('BAD_REQUEST');
    expect((badRequest.extensions['http'] as { status: number }).status).toBe(400);
    const invalid = authFailure(new AuthError('expired', { detail: 'secret detail' }), 30);
    expect(invalid.message).toBe('Token has expired: request a new access token');
    expect(JSON.stringify(invalid.extensions)).not.toContain('secret detail');
  });

  it.each(AUTH_REASONS)('gives %s a fixed status and a description that fits in a header unchanged', (reason) => {
    const error = new AuthError(reason, {});
    expect([400, 401, 503]).toContain(error.status);
    expect(error.description.length).toBeGreaterThan(20);
    expect(wwwAuthenticate({ error_description: error.description })).toBe(
      `Bearer error_description="${error.description}"`,
    );
  });
});

describe('operations HTTP does not run', () => {
  // The small schema has a query and a subscription root, and no mutation root.
  const apollo = new ApolloServer<Context>({
    schema: makeExecutableSchema(),
    formatError,
    plugins: [refuseUnsupportedOperations, errorResponsePlugin<Context>()],
  });
  const ask = async (query: string) => {
    const response = await apollo.executeOperation({ query }, { contextValue: { principal: principals.v2User } });
    return { status: response.http.status, body: response.body.kind === 'single' && response.body.singleResult };
  };

  it('refuses an operation type the schema has no root for: 400 BAD_REQUEST operation_not_supported', async () => {
    expect(await ask('mutation { hello { username } }')).toEqual({
      status: 400,
      body: {
        errors: [
          {
            message: 'This API has no mutation operations',
            extensions: { code: 'BAD_REQUEST', reason: 'operation_not_supported' },
          },
        ],
      },
    });
    expect(unsupportedOperation(makeExecutableSchema(), 'query' as never)).toBeUndefined();
    expect(unsupportedOperation(buildBareSchema(), 'subscription' as never)).toBeUndefined();
  });

  it('refuses a subscription over HTTP: 400 subscription_over_http', async () => {
    const { status, body } = await ask('subscription { greetings { message } }');
    expect(status).toBe(400);
    expect(body && body.errors?.[0]?.extensions).toEqual({ code: 'BAD_REQUEST', reason: 'subscription_over_http' });
  });
});
