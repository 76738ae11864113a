import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { buildSchemaSync, type BuildSchemaOptions } from 'type-graphql';
import { GreetingsResolver } from './greetings.resolver';
import { HelloResolver } from './hello.resolver';
import { ProfileResolver } from './profile.resolver';
import { guardSubscriptions, permissions, ruleTree, type Policy } from './permissions';

export const resolvers = [HelloResolver, ProfileResolver, GreetingsResolver] as const;

/**
 * type-graphql demands a pubSub as soon as a subscription exists, even one that brings its own `subscribe` (as
 * greetings does). No subscription here publishes or listens to topics, so this one refuses if ever used.
 */
const noTopics = {
  publish(): never {
    throw new Error('No subscription publishes to topics');
  },
  subscribe(): never {
    throw new Error('No subscription listens to topics');
  },
};

/** Resolver classes, as type-graphql takes them. */
type Resolvers = BuildSchemaOptions['resolvers'];

/** The schema as type-graphql builds it, without permissions (what schema.graphql holds). */
export function buildBareSchema(resolverClasses: Resolvers = resolvers): GraphQLSchema {
  return buildSchemaSync({ resolvers: resolverClasses, validate: false, pubSub: noTopics });
}

/** The schema served: every field behind its graphql-shield rule. */
export function buildSchema(policy: Policy): GraphQLSchema {
  return guardSubscriptions(applyMiddleware(buildBareSchema(), permissions(ruleTree(policy))));
}
