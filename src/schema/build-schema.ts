import 'reflect-metadata';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { specifiedDirectives, type GraphQLSchema } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { buildSchemaSync, getMetadataStorage, type ClassType, type NonEmptyArray } from 'type-graphql';
import { authorizationDirectives } from '../authorization/directives';
import {
  compileAuthorization,
  guardSubscriptions,
  permissions,
  type Authorization,
} from '../authorization/permissions';
import { policies as namedPolicies } from '../authorization/policies';
import type { Policies } from '../authorization/requirements';

// A resolver is a class decorated with @Resolver, in a file of this folder named `<something>.resolver.ts`.
const RESOLVER_FILE = /^[^.].*\.resolver\.(ts|js)$/;

/**
 * The resolver classes of this folder's `*.resolver.ts` files, in file-name order: adding an operation is adding
 * such a file, with no list to extend.
 */
export function discoverResolvers(directory: string = __dirname): NonEmptyArray<ClassType> {
  const exported = readdirSync(directory)
    .filter((file) => RESOLVER_FILE.test(file))
    .sort()
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    .flatMap((file) => Object.values(require(join(directory, file)) as Record<string, unknown>));
  const resolverClasses = new Set<unknown>(getMetadataStorage().resolverClasses.map(({ target }) => target));
  const found = exported.filter((value): value is ClassType => resolverClasses.has(value));
  if (found.length === 0) throw new Error(`No resolver class in ${directory}/*.resolver.ts`);
  return found as NonEmptyArray<ClassType>;
}

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

/** The schema as type-graphql builds it, with its directives and without permissions (what schema.graphql holds). */
export function buildBareSchema(resolverClasses: NonEmptyArray<ClassType> = discoverResolvers()): GraphQLSchema {
  return buildSchemaSync({
    resolvers: resolverClasses,
    validate: false,
    pubSub: noTopics,
    // Given directives replace graphql-js's own (@skip, @include, @deprecated …) unless they are listed too.
    directives: [...specifiedDirectives, ...Object.values(authorizationDirectives)],
  });
}

/** A schema with its fields behind the rules compiled from its directives, and those rules. */
export interface GuardedSchema {
  readonly schema: GraphQLSchema;
  readonly authorization: Authorization;
}

/** The schema served: every field behind the graphql-shield rule compiled from its directives (or denied). */
export function buildSchema({
  bare = buildBareSchema(),
  policies = namedPolicies,
  authorizationUri,
}: {
  /** The schema to guard; default: the product's, from this folder's resolvers. */
  bare?: GraphQLSchema;
  policies?: Policies;
  /** Where a step-up's claims challenge sends the client (claimsChallengeAuthorizationUri of the settings). */
  authorizationUri?: string;
} = {}): GuardedSchema {
  const authorization = compileAuthorization(bare, policies, authorizationUri);
  return { schema: guardSubscriptions(applyMiddleware(bare, permissions(authorization))), authorization };
}
