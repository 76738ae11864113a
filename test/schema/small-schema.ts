import 'reflect-metadata';
import { GraphQLError, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { PROFILE_PROPERTIES } from '../../src/schema/profile.type';

const USER_FIELDS = [
  'username',
  'employeeId',
  'scopes',
  'roles',
  'name',
  'tenantId',
  'objectId',
  'kind',
  'isGuest',
  'message',
];

/**
 * The served schema's types plus fields no rule names and a resolver that fails with a secret in its message,
 * to test the deny-by-default fallback, masking and partial-data statuses.
 */
export function makeExecutableSchema(): GraphQLSchema {
  const profile = new GraphQLObjectType({
    name: 'Profile',
    fields: Object.fromEntries(PROFILE_PROPERTIES.map((name) => [name, { type: GraphQLString }])),
  });
  const user = new GraphQLObjectType({
    name: 'User',
    fields: {
      ...Object.fromEntries(USER_FIELDS.map((name) => [name, { type: GraphQLString }])),
      profile: { type: profile },
      internalNote: { type: GraphQLString, resolve: () => 'not for callers' },
    },
  });
  const greeting = new GraphQLObjectType({
    name: 'Greeting',
    fields: Object.fromEntries(
      ['message', 'user', 'sentAt', 'tokenExpiresInSeconds'].map((name) => [name, { type: GraphQLString }]),
    ),
  });
  return new GraphQLSchema({
    subscription: new GraphQLObjectType({
      name: 'Subscription',
      fields: { greetings: { type: greeting } },
    }),
    query: new GraphQLObjectType({
      name: 'Query',
      fields: {
        hello: { type: user, resolve: () => ({ username: 'x' }) },
        secret: { type: new GraphQLNonNull(GraphQLString), resolve: () => 'leaked' },
        open: { type: GraphQLString, resolve: () => 'open' },
        needsLogin: {
          type: new GraphQLNonNull(GraphQLString),
          resolve: () => {
            throw new GraphQLError('login', { extensions: { code: 'UNAUTHENTICATED' } });
          },
        },
        needsScope: {
          type: GraphQLString,
          resolve: () => {
            throw new GraphQLError('scope', { extensions: { code: 'FORBIDDEN' } });
          },
        },
        broken: {
          type: GraphQLString,
          resolve: () => {
            throw new Error('database password is hunter2');
          },
        },
      },
    }),
  });
}
