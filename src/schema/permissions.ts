import { GraphQLError, isObjectType, type GraphQLObjectType, type GraphQLSchema } from 'graphql';
import { middleware, type IMiddlewareFieldMap, type IMiddlewareTypeMap } from 'graphql-middleware';
import { allow, deny, rule, shield, type IRules } from 'graphql-shield';
import { hasAnyAppRole, hasAnyScope, isAuthenticated } from '../auth';
import { ErrorCode, forbidden, unauthenticated } from '../errors';
import type { Context } from './context';

export interface Policy {
  readonly requiredScopes: readonly string[];
  readonly requiredAppRoles: readonly string[];
}

// Rules only read the context, so one evaluation per request is enough.
const contextual = { cache: 'contextual' } as const;

/**
 * A verified caller that is a user with one of the required scopes (any user when none is set), or an app with
 * one of the required app roles (no app when none is set). One rule rather than a chain: it runs on every request.
 */
export function callerMay(policy: Policy) {
  return rule(contextual)((_parent, _args, { principal }: Context) => {
    if (!isAuthenticated(principal)) return unauthenticated();
    if (principal.kind === 'user') {
      if (policy.requiredScopes.length === 0 || hasAnyScope(principal, policy.requiredScopes)) return true;
      return forbidden(
        `This operation needs one of the delegated scopes: ${policy.requiredScopes.join(', ')}`,
        'insufficient_scope',
        policy.requiredScopes,
      );
    }
    if (hasAnyAppRole(principal, policy.requiredAppRoles)) return true;
    if (policy.requiredAppRoles.length === 0) {
      return forbidden('App-only tokens are not accepted by this operation', 'app_tokens_not_accepted', []);
    }
    return forbidden(
      `This operation needs one of the app roles: ${policy.requiredAppRoles.join(', ')}`,
      'missing_app_role',
      policy.requiredAppRoles,
    );
  });
}

/** One field's rule: `allow`, `deny`, a `rule(...)` such as `callerMay(...)`, or `and`/`or`/`chain` of them. */
export type ShieldRule = Exclude<IRules, Readonly<Record<string, unknown>>>;

/** A rule for each field of each type: `{ Query: { hello: rule }, User: { username: allow } }`. */
export type RuleTree = Readonly<Record<string, Readonly<Record<string, ShieldRule>>>>;

/** Every field of the schema with its rule; a field missing here is denied (and fails a test). */
export function ruleTree(policy: Policy): RuleTree {
  return {
    Query: {
      hello: callerMay(policy),
    },
    Subscription: { greetings: callerMay(policy) },
    Greeting: { message: allow, user: allow, sentAt: allow, tokenExpiresInSeconds: allow },
    User: {
      username: allow,
      employeeId: allow,
      scopes: allow,
      roles: allow,
      name: allow,
      tenantId: allow,
      objectId: allow,
      kind: allow,
      isGuest: allow,
      message: allow,
      // The caller passed hello's (or greetings') rule; Graph and Entra ID decide what the profile call may do.
      profile: allow,
    },
    Profile: {
      displayName: allow,
      givenName: allow,
      surname: allow,
      jobTitle: allow,
      department: allow,
      officeLocation: allow,
      mail: allow,
      userPrincipalName: allow,
    },
  };
}

/**
 * Deny by default, and errors from resolvers reach the client as they are.
 *
 * Shield wraps every field in an asynchronous check, so each selected field would cost a few promises even where
 * the rule is `allow`. Those wrappers are dropped: `allow` always passes, so the result is the same, and the cost
 * of authorisation no longer grows with the number of fields a query selects. Fields without a rule keep the
 * deny-by-default wrapper.
 */
export function permissions(tree: RuleTree) {
  const guard = shield(tree as Record<string, Record<string, ShieldRule>>, {
    fallbackRule: deny,
    allowExternalErrors: true,
    fallbackError: () =>
      new GraphQLError('Not authorised', { extensions: { code: ErrorCode.FORBIDDEN, reason: 'no_rule' } }),
  });
  return middleware((schema) => withoutAllowed(guard.generate(schema) as IMiddlewareTypeMap, tree));
}

function withoutAllowed(generated: IMiddlewareTypeMap, tree: RuleTree) {
  return Object.fromEntries(
    Object.entries(generated).map(([type, fields]) => [
      type,
      Object.fromEntries(
        Object.entries(fields as IMiddlewareFieldMap).filter(([field]) => tree[type]?.[field] !== allow),
      ),
    ]),
  );
}

/**
 * The fields of the schema's object types that no rule names (or that are named with `deny`), as `Type.field`.
 * They are denied at run time; a test asserts this list is empty, so that a forgotten rule fails CI rather than
 * surfacing as a 403 `no_rule` in production.
 */
export function fieldsWithoutRule(schema: GraphQLSchema, tree: RuleTree): string[] {
  return Object.values(schema.getTypeMap())
    .filter((type): type is GraphQLObjectType => isObjectType(type) && !type.name.startsWith('__'))
    .flatMap((type) =>
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
 * (which shield returns rather than throws) ends the subscription with that error. The rule's verdict is cached in
 * the context, so the events that follow do not evaluate it again.
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
