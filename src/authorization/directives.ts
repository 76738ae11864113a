import {
  DirectiveLocation,
  getDirectiveValues,
  GraphQLDirective,
  GraphQLList,
  GraphQLNonNull,
  GraphQLString,
  type ConstDirectiveNode,
} from 'graphql';
import { Directive } from 'type-graphql';

/**
 * The authorization directives, as Apollo Router and Hive Router spell them, with Entra ID's meaning: delegated
 * scopes are read from `scp`, application permissions and a user's app roles from `roles`. Lists of lists are
 * alternatives (outer list: any one) of groups (inner list: all of them).
 */
const anyOfAll = new GraphQLNonNull(
  new GraphQLList(new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(GraphQLString)))),
);
const locations = [DirectiveLocation.OBJECT, DirectiveLocation.FIELD_DEFINITION];

const definition = (name: string, description: string, argument?: string) =>
  new GraphQLDirective({
    name,
    description,
    locations,
    ...(argument !== undefined && { args: { [argument]: { type: anyOfAll } } }),
  });

export const authorizationDirectives = {
  public: definition('public', 'Anyone may read this field, with or without a token'),
  authenticated: definition('authenticated', 'Any verified caller: a user or an application'),
  requiresScopes: definition(
    'requiresScopes',
    'A user (delegated) token whose scp holds every scope of one of the groups; app-only tokens are refused unless @requiresAppPermissions admits them',
    'scopes',
  ),
  requiresAppPermissions: definition(
    'requiresAppPermissions',
    'An app-only token whose roles hold every permission of one of the groups; user tokens are refused unless @requiresScopes admits them',
    'permissions',
  ),
  requiresRoles: definition(
    'requiresRoles',
    'A user token whose roles (app roles assigned to the user, directly or through a group) hold every role of one of the groups; app-only tokens are refused',
    'roles',
  ),
  requiresAuthContext: new GraphQLDirective({
    name: 'requiresAuthContext',
    description:
      'A caller whose sign-in satisfied this Conditional Access authentication context (acrs, e.g. c1): a step-up. A client that handles claims challenges (xms_cc cp1) gets one (401 insufficient_claims); others get 403 auth_context_required',
    locations,
    args: { context: { type: new GraphQLNonNull(GraphQLString) } },
  }),
  policy: definition(
    'policy',
    'Named policies of the API (src/authorization/policies.ts), each a function of the caller, the arguments and the parent: every policy of one of the groups must admit the caller',
    'policies',
  ),
} as const;

export type DirectiveName = keyof typeof authorizationDirectives;

/** Alternatives, any one of which is enough; each is a group of names that are all needed. */
export type AnyOf = readonly (readonly string[])[];

/** A name as it may appear in a token claim: scope and role values never hold spaces. */
const NAME = /^[^\s"\\]+$/;

function literal(directive: DirectiveName, anyOf: readonly (string | readonly string[])[]): string {
  const groups = anyOf.map((group) => (typeof group === 'string' ? [group] : [...group]));
  if (groups.length === 0 || groups.some((group) => group.length === 0)) {
    throw new Error(`@${directive} needs at least one name in each of at least one group`);
  }
  const bad = groups.flat().find((name) => !NAME.test(name));
  if (bad !== undefined) throw new Error(`@${directive}: ${JSON.stringify(bad)} is not a permission name`);
  return JSON.stringify(groups);
}

/*
 * Decorators for type-graphql classes and fields. Each argument is one alternative: a name, or an array of names
 * that are all needed. `@RequiresScopes('Files.Read', ['Files.Write', 'Audit.Read'])` is
 * `@requiresScopes(scopes: [["Files.Read"], ["Files.Write", "Audit.Read"]])`.
 */
export const Public = () => Directive('@public');
export const Authenticated = () => Directive('@authenticated');
export const RequiresScopes = (...anyOf: (string | readonly string[])[]) =>
  Directive(`@requiresScopes(scopes: ${literal('requiresScopes', anyOf)})`);
export const RequiresAppPermissions = (...anyOf: (string | readonly string[])[]) =>
  Directive(`@requiresAppPermissions(permissions: ${literal('requiresAppPermissions', anyOf)})`);
export const RequiresRoles = (...anyOf: (string | readonly string[])[]) =>
  Directive(`@requiresRoles(roles: ${literal('requiresRoles', anyOf)})`);
/** Authentication context ids, as Entra ID names them: c1 to c99. */
const AUTH_CONTEXT = /^c[1-9][0-9]?$/;
export const RequiresAuthContext = (context: string) => {
  if (!AUTH_CONTEXT.test(context)) throw new Error(`@requiresAuthContext: ${JSON.stringify(context)} is not c1 to c99`);
  return Directive(`@requiresAuthContext(context: "${context}")`);
};
export const Policy = (...anyOf: (string | readonly string[])[]) =>
  Directive(`@policy(policies: ${literal('policy', anyOf)})`);

/** The authorization directives applied to one type or field, with their arguments. */
export interface Applied {
  public: boolean;
  authenticated: boolean;
  scopes?: AnyOf;
  permissions?: AnyOf;
  roles?: AnyOf;
  policies?: AnyOf;
  authContext?: string;
}

/** Reads the authorization directives of a type's or field's definition; `where` names it in errors. */
export function appliedDirectives(
  node: { readonly directives?: readonly ConstDirectiveNode[] } | null | undefined,
  where: string,
): Applied {
  const applied: Applied = { public: false, authenticated: false };
  const seen = new Set<string>();
  for (const { name } of node?.directives ?? []) {
    if (!(name.value in authorizationDirectives)) continue;
    if (seen.has(name.value)) throw new Error(`${where} carries @${name.value} twice: merge them into one`);
    seen.add(name.value);
  }
  const values = (directive: DirectiveName, argument: string): AnyOf | undefined => {
    if (!seen.has(directive) || !node) return undefined;
    return getDirectiveValues(authorizationDirectives[directive], node)?.[argument] as AnyOf;
  };
  applied.public = seen.has('public');
  applied.authenticated = seen.has('authenticated');
  const scopes = values('requiresScopes', 'scopes');
  const permissions = values('requiresAppPermissions', 'permissions');
  const roles = values('requiresRoles', 'roles');
  const policies = values('policy', 'policies');
  if (scopes) applied.scopes = scopes;
  if (permissions) applied.permissions = permissions;
  if (roles) applied.roles = roles;
  if (policies) applied.policies = policies;
  if (seen.has('requiresAuthContext') && node) {
    applied.authContext = getDirectiveValues(authorizationDirectives.requiresAuthContext, node)?.['context'] as string;
  }
  return applied;
}
