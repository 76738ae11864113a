import { ApolloServer } from '@apollo/server';
import { type GraphQLSchema, printSchema } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { allow } from 'graphql-shield';
import type { Principal } from '../../src/auth';
import { errorResponsePlugin, formatError } from '../../src/errors';
import { buildBareSchema, resolvers as productResolvers } from '../../src/schema/build-schema';
import { GreetingsResolver } from '../../src/schema/greetings.resolver';
import { HelloResolver } from '../../src/schema/hello.resolver';
import { ProfileResolver } from '../../src/schema/profile.resolver';
import type { Context } from '../../src/schema/context';
import { callerMay, fieldsWithoutRule, permissions, ruleTree, type RuleTree } from '../../src/schema/permissions';
import { principals } from '../helpers/principals';
import { DOCUMENTS_POLICY, DocumentsResolver } from './documents.example';

/** The test behind docs/adding-an-operation.md: its example query, guarded, and what a forgotten rule does. */
const policy = { requiredScopes: ['access_as_user'], requiredAppRoles: ['Hello.Read.All'] };

// Step 2 of the guide, as the product's ruleTree would read with the two lines added.
function ruleTreeWithDocuments(): RuleTree {
  const tree = ruleTree(policy);
  return {
    ...tree,
    Query: {
      ...tree['Query'],
      documents: callerMay(DOCUMENTS_POLICY),
    },
    Document: { id: allow, title: allow },
  };
}

// Step 1's registration, as src/schema/build-schema.ts would read.
const resolvers = [HelloResolver, ProfileResolver, GreetingsResolver, DocumentsResolver] as const;
const bareSchema: GraphQLSchema = buildBareSchema(resolvers);

async function ask(tree: RuleTree, principal: Principal | null, query: string) {
  const schema = applyMiddleware(bareSchema, permissions(tree));
  const server = new ApolloServer<Context>({ schema, formatError, plugins: [errorResponsePlugin<Context>()] });
  const response = await server.executeOperation({ query }, { contextValue: { principal } });
  if (response.body.kind !== 'single') throw new Error('expected a single result');
  return { status: response.http.status, result: response.body.singleResult };
}

const DOCUMENTS = '{ documents { id title } }';
const withScopes = (...scopes: string[]): Principal => ({ ...principals.v2User, scopes });
const withRoles = (...roles: string[]): Principal => ({ ...principals.app, roles });

describe('adding a second guarded query (docs/adding-an-operation.md)', () => {
  it('adds the query and its type to the schema', () => {
    expect([...productResolvers, DocumentsResolver]).toEqual(resolvers);
    expect(printSchema(bareSchema)).toContain('documents: [Document!]!');
    expect(printSchema(bareSchema)).toContain('type Document {\n  id: ID!\n  title: String!\n}');
  });

  it('answers a user holding the new scope, even without the scope of hello', async () => {
    expect(await ask(ruleTreeWithDocuments(), withScopes('Documents.Read'), DOCUMENTS)).toEqual({
      status: undefined,
      result: { data: { documents: [{ id: '7b6a1c4e-0d3f-4c2a-9e51-3f8d2b7a6c10/1', title: 'Quarterly report' }] } },
    });
  });

  it('refuses a user with only the scope of hello: 403 insufficient_scope naming the new scope', async () => {
    expect(await ask(ruleTreeWithDocuments(), withScopes('access_as_user'), DOCUMENTS)).toEqual({
      status: 403,
      result: {
        data: null,
        errors: [
          {
            message: 'This operation needs one of the delegated scopes: Documents.Read',
            locations: [{ line: 1, column: 3 }],
            path: ['documents'],
            extensions: { code: 'FORBIDDEN', reason: 'insufficient_scope', scope: 'Documents.Read' },
          },
        ],
      },
    });
  });

  it('leaves hello guarded by its own rule', async () => {
    const { status, result } = await ask(
      ruleTreeWithDocuments(),
      withScopes('Documents.Read'),
      '{ hello { username } }',
    );
    expect(status).toBe(403);
    expect(result.errors?.[0]?.extensions).toEqual({
      code: 'FORBIDDEN',
      reason: 'insufficient_scope',
      scope: 'access_as_user',
    });
  });

  it('answers an app holding the new app role, and refuses one holding only the role of hello', async () => {
    expect((await ask(ruleTreeWithDocuments(), withRoles('Documents.Read.All'), DOCUMENTS)).result).toEqual({
      data: { documents: [{ id: '7b6a1c4e-0d3f-4c2a-9e51-3f8d2b7a6c10/1', title: 'Quarterly report' }] },
    });
    const refused = await ask(ruleTreeWithDocuments(), withRoles('Hello.Read.All'), DOCUMENTS);
    expect(refused.status).toBe(403);
    expect(refused.result.errors?.[0]?.extensions).toEqual({
      code: 'FORBIDDEN',
      reason: 'missing_app_role',
      scope: 'Documents.Read.All',
    });
  });

  it('refuses an anonymous caller with 401', async () => {
    const { status, result } = await ask(ruleTreeWithDocuments(), null, DOCUMENTS);
    expect(status).toBe(401);
    expect(result.errors?.[0]?.extensions).toEqual({ code: 'UNAUTHENTICATED', reason: 'missing_token' });
  });

  it('passes the rule-coverage check once both rules are in', () => {
    expect(fieldsWithoutRule(bareSchema, ruleTreeWithDocuments())).toEqual([]);
  });

  describe('when a rule is forgotten', () => {
    it('the coverage check names the query without a rule, and the query is denied to everyone with no_rule', async () => {
      const tree = { ...ruleTreeWithDocuments(), Query: ruleTree(policy)['Query']! };
      expect(fieldsWithoutRule(bareSchema, tree)).toEqual(['Query.documents']);
      expect(await ask(tree, withScopes('Documents.Read'), DOCUMENTS)).toEqual({
        status: 403,
        result: {
          data: null,
          errors: [
            {
              message: 'Not authorised',
              locations: [{ line: 1, column: 3 }],
              path: ['documents'],
              extensions: { code: 'FORBIDDEN', reason: 'no_rule' },
            },
          ],
        },
      });
    });

    it('the coverage check names the fields of a new type without rules, and each is denied', async () => {
      const { Document: _forgotten, ...tree } = ruleTreeWithDocuments();
      expect(fieldsWithoutRule(bareSchema, tree)).toEqual(['Document.id', 'Document.title']);
      const { status, result } = await ask(tree, withScopes('Documents.Read'), DOCUMENTS);
      // Both fields are non-null, so the denial nulls the whole list item and, the list being non-null, the query.
      expect(status).toBe(403);
      expect(result.data).toBeNull();
      expect(result.errors?.map((error) => [error.path, error.extensions?.['reason']])).toEqual([
        [['documents', 0, 'id'], 'no_rule'],
      ]);
    });
  });
});
