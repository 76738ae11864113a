import { ApolloServer } from '@apollo/server';
import { GraphQLError, type GraphQLObjectType } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { allow, deny, rule } from 'graphql-shield';
import { Field, ObjectType, Query, Resolver } from 'type-graphql';
import { Authenticated, Public } from '../../src/authorization/directives';
import { compileAuthorization, fieldsWithoutRule, permissions } from '../../src/authorization/permissions';
import { policies } from '../../src/authorization/policies';
import { errorResponsePlugin, formatError } from '../../src/graphql/errors';
import { buildBareSchema, buildSchema } from '../../src/schema/build-schema';
import type { Context } from '../../src/schema/context';
import { principals } from '../helpers/principals';
import { makeExecutableSchema } from '../schema/small-schema';

// A hand-written shield tree over a schema without directives: shield's own rules and fallback still apply.
const handWritten = {
  Query: { hello: allow, open: deny, needsLogin: allow, needsScope: allow, broken: allow },
  User: { username: rule()(() => true) },
};

function askAsUser(query: string) {
  const schema = applyMiddleware(makeExecutableSchema(), permissions({ tree: handWritten, policies: {} }));
  const server = new ApolloServer<Context>({ schema, formatError, plugins: [errorResponsePlugin<Context>()] });
  return server.executeOperation({ query }, { contextValue: { principal: principals.v2User } });
}

describe('rule coverage', () => {
  it('gives every field of every object type of the served schema a rule from its directives', () => {
    const bare = buildBareSchema();
    // No list of type names here: a type or field added with its directives passes, one added without fails.
    expect(fieldsWithoutRule(bare, compileAuthorization(bare, policies).tree)).toEqual([]);
  });

  it('names each field without a rule, and each whose rule is deny', () => {
    expect(fieldsWithoutRule(makeExecutableSchema(), handWritten)).toEqual([
      'Query.secret',
      'Query.open',
      'User.employeeId',
      'User.scopes',
      'User.roles',
      'User.name',
      'User.tenantId',
      'User.objectId',
      'User.kind',
      'User.isGuest',
      'User.message',
      'User.profile',
      'User.internalNote',
      'Profile.displayName',
      'Profile.givenName',
      'Profile.surname',
      'Profile.jobTitle',
      'Profile.department',
      'Profile.officeLocation',
      'Profile.mail',
      'Profile.userPrincipalName',
      'Subscription.greetings',
      'Greeting.message',
      'Greeting.user',
      'Greeting.sentAt',
      'Greeting.tokenExpiresInSeconds',
    ]);
  });

  it('denies a field that has no rule, with FORBIDDEN no_rule', async () => {
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

  it('denies a field without a rule on a type whose other fields have one', async () => {
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
});

describe('compiled rules at run time', () => {
  const { schema } = buildSchema();
  const field = (type: string, name: string) => (schema.getType(type) as GraphQLObjectType).getFields()[name]!;

  it('decide synchronously, without the promises of shield’s wrapper', () => {
    const refused = field('Query', 'hello').resolve!(undefined, {}, { principal: null }, {} as never);
    expect(refused).toBeInstanceOf(GraphQLError);
    expect((refused as GraphQLError).extensions).toEqual({ code: 'UNAUTHENTICATED', reason: 'missing_token' });
  });

  it('skip a check that can never refuse: @authenticated on a type only fields demanding a caller return', () => {
    // User is returned by hello, greetings' Greeting.user: all demand a caller first. profile has its own scope.
    for (const { name, resolve } of Object.values((schema.getType('User') as GraphQLObjectType).getFields())) {
      expect([name, resolve === undefined]).toEqual([name, name !== 'profile']);
    }
    @ObjectType({ simpleResolvers: true })
    @Authenticated()
    class Note {
      @Field((_type) => String)
      text!: string;
    }
    @Resolver()
    class NoteResolver {
      @Query((_returns) => Note)
      @Authenticated()
      note(): Note {
        return { text: 'a' };
      }

      @Query((_returns) => Note)
      @Public()
      publicNote(): Note {
        return { text: 'b' };
      }
    }
    // Reachable through a @public field too: Note.text keeps its check.
    const built = buildSchema({ bare: buildBareSchema([NoteResolver]), policies: {} }).schema;
    const text = (built.getType('Note') as GraphQLObjectType).getFields()['text']!;
    expect(text.resolve!({ text: 'b' }, {}, { principal: null }, { fieldName: 'text' } as never)).toMatchObject({
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });

  it('leave @public fields unwrapped: graphql-js reads them with its default resolver', () => {
    @ObjectType({ simpleResolvers: true })
    class Open {
      @Field((_type) => String)
      @Public()
      note!: string;
    }
    @Resolver()
    class OpenResolver {
      @Query((_returns) => Open)
      @Public()
      open(): Open {
        return { note: 'hi' };
      }
    }
    const built = buildSchema({ bare: buildBareSchema([OpenResolver]), policies: {} }).schema;
    expect((built.getType('Open') as GraphQLObjectType).getFields()['note']?.resolve).toBeUndefined();
  });
});
