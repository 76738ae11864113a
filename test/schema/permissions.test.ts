import { ApolloServer } from '@apollo/server';
import { type GraphQLObjectType, isObjectType } from 'graphql';
import { allow, deny } from 'graphql-shield';
import { formatError, errorResponsePlugin } from '../../src/errors';
import { buildBareSchema, buildSchema } from '../../src/schema/build-schema';
import type { Context } from '../../src/schema/context';
import { fieldsWithoutRule, permissions, ruleTree } from '../../src/schema/permissions';
import { applyMiddleware } from 'graphql-middleware';
import { makeExecutableSchema } from './small-schema';
import { principals } from '../helpers/principals';

const policy = { requiredScopes: ['access_as_user'], requiredAppRoles: ['Hello.Read.All'] };

/** Runs a query against the small schema behind the served permissions, as a user with the required scope. */
function askAsUser(query: string) {
  const schema = applyMiddleware(makeExecutableSchema(), permissions(ruleTree(policy)));
  const server = new ApolloServer<Context>({ schema, formatError, plugins: [errorResponsePlugin<Context>()] });
  return server.executeOperation({ query }, { contextValue: { principal: principals.v2User } });
}

describe('permission rules', () => {
  it('name every field of the schema explicitly, so none is left to the fallback', () => {
    const schema = buildBareSchema();
    expect(
      Object.keys(schema.getTypeMap())
        .filter((name) => !name.startsWith('__') && isObjectType(schema.getType(name)))
        .sort(),
    ).toEqual(['Greeting', 'Profile', 'Query', 'Subscription', 'User']);
    expect(fieldsWithoutRule(schema, ruleTree(policy))).toEqual([]);
  });

  it('find a field without a rule, and one whose rule is deny', () => {
    expect(
      fieldsWithoutRule(makeExecutableSchema(), { ...ruleTree(policy), Query: { hello: allow, open: deny } }),
    ).toEqual([
      'Query.secret',
      'Query.open',
      'Query.needsLogin',
      'Query.needsScope',
      'Query.broken',
      'User.internalNote',
    ]);
  });

  it('deny a field that has no rule, with FORBIDDEN', async () => {
    const response = await askAsUser('{ secret }');
    expect(response.http.status).toBe(403);
    expect(response.body.kind === 'single' && response.body.singleResult).toEqual({
      data: null,
      errors: [
        {
          message: 'Not authorised',
          locations: [{ line: 1, column: 3 }],
          path: ['secret'],
          extensions: { code: 'FORBIDDEN', reason: 'no_rule' },
        },
      ],
    });
  });

  it('deny a field without a rule on a type whose other fields are allowed', async () => {
    const response = await askAsUser('{ hello { username internalNote } }');
    expect(response.body.kind === 'single' && response.body.singleResult).toEqual({
      data: { hello: { username: 'x', internalNote: null } },
      errors: [
        {
          message: 'Not authorised',
          locations: [{ line: 1, column: 20 }],
          path: ['hello', 'internalNote'],
          extensions: { code: 'FORBIDDEN', reason: 'no_rule' },
        },
      ],
    });
  });

  it('leave fields whose rule is allow unwrapped: graphql-js reads them with its default resolver', () => {
    const user = buildSchema(policy).getType('User') as GraphQLObjectType;
    const hello = (buildSchema(policy).getType('Query') as GraphQLObjectType).getFields()['hello']!;
    // profile has a resolver of its own (the Graph call); every other field is a plain property.
    for (const field of Object.values(user.getFields()).filter(({ name }) => name !== 'profile')) {
      expect(field.resolve).toBeUndefined();
    }
    const guarded = hello.resolve!(undefined, {}, { principal: null }, {} as never);
    expect(guarded).toBeInstanceOf(Promise);
    return expect(guarded).resolves.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
  });
});
