import {
  getNamedType,
  GraphQLError,
  isObjectType,
  isUnionType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import {
  middleware,
  type IMiddlewareFieldMap,
  type IMiddlewareFunction,
  type IMiddlewareTypeMap,
} from 'graphql-middleware';
import { allow, deny, rule, shield, type IRules } from 'graphql-shield';
import { noRule } from '../graphql/errors';
import type { Context } from '../schema/context';
import { appliedDirectives } from './directives';
import { decide, onlyAuthenticated, requirementOf, type Policies, type Requirement } from './requirements';

/** One field's rule: `allow`, `deny`, a `rule(...)`, or `and`/`or`/`chain` of them. */
export type ShieldRule = Exclude<IRules, Readonly<Record<string, unknown>>>;

/** A rule for each field of each type: `{ Query: { hello: rule }, User: { username: allow } }`. */
export type RuleTree = Readonly<Record<string, Readonly<Record<string, ShieldRule>>>>;

/** The schema's authorization: graphql-shield's rule tree, and the requirement each compiled rule stands for. */
export interface Authorization {
  readonly tree: RuleTree;
  /** By type name, then field name: every field that carries a directive (its own or its type's). */
  readonly requirements: ReadonlyMap<string, ReadonlyMap<string, Requirement>>;
  readonly policies: Policies;
}

// The requirement behind each rule this module compiled, so that permissions() can run it without shield's wrapper.
const compiled = new WeakMap<object, Requirement>();

const objectTypes = (schema: GraphQLSchema) =>
  Object.values(schema.getTypeMap()).filter(
    (type): type is GraphQLObjectType => isObjectType(type) && !type.name.startsWith('__'),
  );

/**
 * Compiles the schema's authorization directives into graphql-shield's rule tree: `allow` for a `@public` field, a
 * rule deciding the field's requirement for every other field with a directive (on itself or its type), and no
 * entry for a field without one, which shield's fallback then denies. Throws, naming the field, on a contradiction
 * (`@public` with another requirement) or a policy that is not registered.
 */
/**
 * Where a client signs the user in again for a step-up: for a workforce tenant the endpoint Microsoft's claims
 * challenge for web APIs names (`/common/oauth2/authorize`); an External ID tenant has no `common`, so its own.
 */
export function claimsChallengeAuthorizationUri(auth: {
  readonly authorityHost: string;
  readonly tenantType?: 'workforce' | 'external';
  readonly tenantId?: string;
}): string {
  const origin = new URL(auth.authorityHost).origin;
  return auth.tenantType === 'external'
    ? `${origin}/${auth.tenantId}/oauth2/v2.0/authorize`
    : `${origin}/common/oauth2/authorize`;
}

export function compileAuthorization(
  schema: GraphQLSchema,
  policies: Policies,
  authorizationUri = claimsChallengeAuthorizationUri({ authorityHost: 'https://login.microsoftonline.com' }),
): Authorization {
  const roots = new Set([schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]);
  const tree: Record<string, Record<string, ShieldRule>> = {};
  const requirements = new Map<string, Map<string, Requirement>>();
  for (const type of objectTypes(schema)) {
    const typeLevel = appliedDirectives(type.astNode, type.name);
    for (const field of Object.values(type.getFields())) {
      const coordinate = `${type.name}.${field.name}`;
      const fieldLevel = appliedDirectives(field.astNode, coordinate);
      const requirement = requirementOf(typeLevel, fieldLevel, coordinate, roots.has(type), policies, authorizationUri);
      if (!requirement) continue;
      if (!requirements.has(type.name)) requirements.set(type.name, new Map());
      requirements.get(type.name)?.set(field.name, requirement);
      (tree[type.name] ??= {})[field.name] = requirement.public ? allow : ruleFor(requirement, policies);
    }
  }
  return { tree, requirements, policies };
}

/** The shield rule of a requirement: the same decision as the synchronous guard permissions() runs instead. */
function ruleFor(requirement: Requirement, policies: Policies): ShieldRule {
  const compiledRule = rule(requirement.coordinate, {
    cache: requirement.policies.length > 0 ? 'no_cache' : 'contextual',
  })((parent, args, context: Context) => decide(requirement, policies, context, args, parent));
  compiled.set(compiledRule, requirement);
  return compiledRule;
}

/**
 * Deny by default, and errors from resolvers reach the client as they are.
 *
 * Shield wraps every field in an asynchronous check: each selected field would cost a few promises. So the fields
 * whose rule this module compiled get a synchronous guard making the same decision (a promise only when a policy
 * returns one), and `allow` fields get no wrapper at all: the cost of authorization no longer grows with the number
 * of fields a query selects. Fields without a rule keep shield's deny-by-default wrapper; hand-written rules keep
 * shield's.
 */
export function permissions({ tree, policies }: Pick<Authorization, 'tree' | 'policies'>) {
  const guard = shield(tree as Record<string, Record<string, ShieldRule>>, {
    fallbackRule: deny,
    allowExternalErrors: true,
    fallbackError: noRule,
  });
  return middleware((schema: GraphQLSchema) => {
    const decidedAbove = impliedByEveryPath(schema, tree);
    const generated = guard.generate(schema) as IMiddlewareTypeMap;
    return Object.fromEntries(
      Object.entries(generated).map(([type, fields]) => [
        type,
        Object.fromEntries(
          Object.entries(fields as IMiddlewareFieldMap).flatMap(([field, generatedMiddleware]) => {
            const rule = tree[type]?.[field];
            if (rule === allow) return [];
            const requirement = rule && compiled.get(rule);
            if (requirement && decidedAbove.has(requirement)) return [];
            return [[field, requirement ? guardOf(requirement, policies) : generatedMiddleware]];
          }),
        ),
      ]),
    );
  });
}

/**
 * The requirements that can never refuse: `@authenticated` alone, on a type that only fields demanding a caller
 * return (`User` is reached only through hello, greetings and Greeting.user). Such a field is reached only after a
 * caller was demanded above it, so its check would always pass and costs a call per selected field for nothing. A
 * type that is a union member or implements an interface may be reached other ways: it keeps its checks.
 */
function impliedByEveryPath(schema: GraphQLSchema, tree: RuleTree): Set<Requirement> {
  const demandsCaller = (rule: ShieldRule | undefined) => {
    const requirement = rule && compiled.get(rule);
    return requirement !== undefined && !requirement.public;
  };
  const reachedOnlyBehindACaller = (target: GraphQLObjectType) =>
    target.getInterfaces().length === 0 &&
    !Object.values(schema.getTypeMap()).some((type) => isUnionType(type) && type.getTypes().includes(target)) &&
    objectTypes(schema).every((type) =>
      Object.values(type.getFields()).every(
        (field) => getNamedType(field.type) !== target || demandsCaller(tree[type.name]?.[field.name]),
      ),
    );
  const implied = new Set<Requirement>();
  for (const type of objectTypes(schema).filter(reachedOnlyBehindACaller)) {
    for (const field of Object.keys(type.getFields())) {
      const requirement = compiled.get(tree[type.name]?.[field] as object);
      if (requirement && !requirement.root && onlyAuthenticated(requirement)) implied.add(requirement);
    }
  }
  return implied;
}

/** Decides before the field's resolver runs; a refusal is returned, which graphql-js reports at the field's path. */
function guardOf(requirement: Requirement, policies: Policies): IMiddlewareFunction<unknown, Context> {
  return (resolve, parent, args, context, info) => {
    const verdict = decide(requirement, policies, context, args, parent);
    if (verdict === true) return resolve(parent, args, context, info);
    if (verdict instanceof GraphQLError) return verdict;
    return verdict.then((decided) => (decided === true ? resolve(parent, args, context, info) : decided));
  };
}

/**
 * The fields of the schema's object types that no rule names (or that are named with `deny`), as `Type.field`.
 * They are denied at run time; a test asserts this list is empty, so that a forgotten directive fails CI rather than
 * surfacing as a 403 `no_rule` in production.
 */
export function fieldsWithoutRule(schema: GraphQLSchema, tree: RuleTree): string[] {
  return objectTypes(schema).flatMap((type) =>
    Object.keys(type.getFields())
      .filter((field) => {
        const rule = tree[type.name]?.[field];
        return rule === undefined || rule === deny;
      })
      .map((field) => `${type.name}.${field}`),
  );
}

/**
 * Makes each subscription's rule refuse the subscription itself, not each of its events. graphql-middleware wraps a
 * field's `resolve` (run per event) and leaves `subscribe` alone when a field has both, as type-graphql's
 * subscriptions do; so before subscribing, the guarded `resolve` runs once with no event, and the rule's refusal
 * (returned rather than thrown) ends the subscription with that error.
 */
export function guardSubscriptions(schema: GraphQLSchema): GraphQLSchema {
  for (const field of Object.values(schema.getSubscriptionType()?.getFields() ?? {})) {
    const { resolve, subscribe } = field;
    if (!resolve || !subscribe) continue;
    field.subscribe = async (source, args, context, info) => {
      const verdict: unknown = await resolve(undefined, args, context, info);
      if (verdict instanceof Error) throw verdict;
      return subscribe(source, args, context, info);
    };
  }
  return schema;
}
