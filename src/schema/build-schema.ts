import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { buildSchemaSync } from 'type-graphql';
import { HelloResolver } from './hello.resolver';
import { permissions, ruleTree, type Policy } from './permissions';

export const resolvers = [HelloResolver] as const;

/** The schema as type-graphql builds it, without permissions (what schema.graphql holds). */
export function buildBareSchema(): GraphQLSchema {
  return buildSchemaSync({ resolvers, validate: false });
}

/** The schema served: every field behind its graphql-shield rule. */
export function buildSchema(policy: Policy): GraphQLSchema {
  return applyMiddleware(buildBareSchema(), permissions(ruleTree(policy)));
}
