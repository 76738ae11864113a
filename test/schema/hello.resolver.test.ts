import { ApolloServer } from '@apollo/server';
import type { Principal } from '../../src/auth';
import { formatError, errorResponsePlugin } from '../../src/graphql/errors';
import { buildBareSchema, buildSchema } from '../../src/schema/build-schema';
import type { Context } from '../../src/schema/context';
import { HelloDocument, type HelloQuery } from '../generated/graphql';
import { principals, withPermissions } from '../helpers/principals';

function apollo() {
  const { schema } = buildSchema();
  return new ApolloServer<Context>({ schema, formatError, plugins: [errorResponsePlugin<Context>()] });
}

async function hello(principal: Principal | null, server = apollo()) {
  const response = await server.executeOperation<HelloQuery>({ query: HelloDocument }, { contextValue: { principal } });
  if (response.body.kind !== 'single') throw new Error('expected a single result');
  return { status: response.http.status, headers: response.http.headers, result: response.body.singleResult };
}

describe('hello resolver', () => {
  it('greets a v2 user with the fields of the token', async () => {
    const { result, status } = await hello(principals.v2User);
    expect(status).toBeUndefined();
    expect(result).toEqual({
      data: {
        hello: {
          message: 'Hello World! You are authenticated.',
          username: 'ada@contoso.example',
          employeeId: 'E-1815',
          scopes: ['access_as_user'],
          roles: [],
          name: 'Ada Lovelace',
          tenantId: '7b6a1c4e-0d3f-4c2a-9e51-3f8d2b7a6c10',
          objectId: '3f1e2d4c-5b6a-4789-8a0b-1c2d3e4f5a6b',
          kind: 'USER',
          isGuest: false,
        },
      },
    });
  });

  it('greets a v1 user without an employee id with null', async () => {
    const { result } = await hello(principals.v1User);
    expect(result.data?.hello).toMatchObject({
      username: 'grace@contoso.example',
      employeeId: null,
      scopes: ['access_as_user', 'Files.Read'],
    });
  });

  it('marks a guest', async () => {
    const { result } = await hello(principals.guest);
    expect(result.data?.hello).toMatchObject({ isGuest: true, name: null });
  });

  it('greets an app holding the app role, named by its client id', async () => {
    const { result } = await hello(principals.app);
    expect(result.data?.hello).toMatchObject({
      kind: 'APP',
      username: 'c9d8e7f6-1a2b-4c3d-9e8f-0a1b2c3d4e5f',
      roles: ['Hello.Read.All'],
    });
  });

  it('refuses an anonymous caller with UNAUTHENTICATED and a 401', async () => {
    const { result, status, headers } = await hello(null);
    expect(status).toBe(401);
    expect(headers.get('www-authenticate')).toBe('Bearer');
    expect(result).toEqual({
      data: null,
      errors: [
        {
          message: 'Authentication required: send an Authorization: Bearer <access token> header',
          locations: [{ line: 2, column: 3 }],
          path: ['hello'],
          extensions: { code: 'UNAUTHENTICATED', reason: 'missing_token' },
        },
      ],
    });
  });

  it('guards itself when served without the permission rules', async () => {
    const bare = new ApolloServer<Context>({ schema: buildBareSchema(), formatError });
    const response = await bare.executeOperation<HelloQuery>(
      { query: HelloDocument },
      { contextValue: { principal: null } },
    );
    expect(response.body.kind === 'single' && response.body.singleResult.errors?.[0]?.extensions?.['code']).toBe(
      'UNAUTHENTICATED',
    );
  });
});

describe("hello's directives: @requiresScopes(access_as_user) @requiresAppPermissions(Hello.Read.All)", () => {
  it('refuses a user without a required scope with 403 naming the scope', async () => {
    const { result, status, headers } = await hello(withPermissions(principals.v2User, { scopes: ['Files.Read'] }));
    expect(status).toBe(403);
    expect(headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope", scope="access_as_user"');
    expect(result.errors).toEqual([
      {
        message: 'This operation needs one of the delegated scopes: access_as_user',
        locations: [{ line: 2, column: 3 }],
        path: ['hello'],
        extensions: {
          code: 'FORBIDDEN',
          reason: 'insufficient_scope',
          scope: 'access_as_user',
          scopes: [['access_as_user']],
        },
      },
    ]);
  });

  it.each([['Access_As_User'], ['access_as_user_admin'], ['access'], ['access_as_user ']])(
    'matches scopes exactly: %j is not enough',
    async (scope) => {
      const { status } = await hello(withPermissions(principals.v2User, { scopes: [scope] }));
      expect(status).toBe(403);
    },
  );

  it('accepts a user holding the scope among others', async () => {
    const { result } = await hello(withPermissions(principals.v2User, { scopes: ['Files.Read', 'access_as_user'] }));
    expect(result.data?.hello.username).toBe('ada@contoso.example');
  });

  it("never counts a user's roles as app permissions", async () => {
    const user = withPermissions(principals.v1User, { scopes: ['Files.Read'], roles: ['Hello.Read.All'] });
    const { status } = await hello(user);
    expect(status).toBe(403);
  });

  it('refuses an app without the app role with 403 naming the role', async () => {
    const { result, status, headers } = await hello(withPermissions(principals.app, { roles: ['Other.Role'] }));
    expect(status).toBe(403);
    expect(headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope", scope="Hello.Read.All"');
    expect(result.errors?.[0]?.extensions).toEqual({
      code: 'FORBIDDEN',
      reason: 'missing_app_role',
      scope: 'Hello.Read.All',
      permissions: [['Hello.Read.All']],
    });
    expect(result.errors?.[0]?.message).toBe('This operation needs one of the app roles: Hello.Read.All');
  });

  it('does not let an app in through delegated scopes', async () => {
    const app = withPermissions(principals.app, { roles: [], scopes: ['access_as_user'] });
    const { status } = await hello(app);
    expect(status).toBe(403);
  });
});
