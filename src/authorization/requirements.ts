import type { GraphQLError } from 'graphql';
import { isAuthenticated, type Principal } from '../auth';
import { authContextChallenge, refusal, unauthenticated } from '../graphql/errors';
import type { Context } from '../schema/context';
import type { AnyOf, Applied } from './directives';

/**
 * What one field demands of its caller: its type's directives AND its own. Each list holds one entry per level that
 * set the directive (type, field), and every entry must be met.
 */
export interface Requirement {
  /** `Type.field`, for error messages and the coverage check. */
  readonly coordinate: string;
  /** A field of Query, Mutation or Subscription: its refusals speak of the operation. */
  readonly root: boolean;
  readonly public: boolean;
  readonly scopes: readonly AnyOf[];
  readonly permissions: readonly AnyOf[];
  readonly roles: readonly AnyOf[];
  readonly policies: readonly AnyOf[];
  /** Authentication contexts (`acrs`) the sign-in must have satisfied: every one. */
  readonly authContexts: readonly string[];
  /** Where a client handling claims challenges signs the user in again (the authority's authorize endpoint). */
  readonly authorizationUri: string;
}

/** What a named policy sees: the verified caller, the field's arguments and its parent object. */
export interface PolicyRequest {
  readonly caller: Principal;
  readonly args: Readonly<Record<string, unknown>>;
  readonly parent: unknown;
  readonly context: Context;
}

/** A named policy: true admits the caller; false refuses with `policy_refused`; a GraphQLError refuses with itself. */
export type PolicyFunction = (request: PolicyRequest) => boolean | GraphQLError | Promise<boolean | GraphQLError>;

export type Policies = Readonly<Record<string, PolicyFunction>>;

/** A decision: true, or the error that refuses the field. */
export type Verdict = true | GraphQLError;

/**
 * Merges a type's and a field's directives; undefined when neither sets any (the field has no rule and is denied).
 * `@public` stands alone: with any other requirement on the field or its type it is a contradiction, refused here.
 */
export function requirementOf(
  type: Applied,
  field: Applied,
  coordinate: string,
  root: boolean,
  policies: Policies,
  authorizationUri: string,
): Requirement | undefined {
  const levels = [type, field];
  const list = (key: 'scopes' | 'permissions' | 'roles' | 'policies') =>
    levels.flatMap((level) => (level[key] ? [level[key]] : []));
  const requirement: Requirement = {
    coordinate,
    root,
    public: levels.some((level) => level.public),
    scopes: list('scopes'),
    permissions: list('permissions'),
    roles: list('roles'),
    policies: list('policies'),
    authContexts: levels.flatMap((level) => (level.authContext ? [level.authContext] : [])),
    authorizationUri,
  };
  const demands =
    levels.some((level) => level.authenticated) ||
    [
      requirement.scopes,
      requirement.permissions,
      requirement.roles,
      requirement.policies,
      requirement.authContexts,
    ].some((l) => l.length > 0);
  if (requirement.public && demands) {
    throw new Error(`${coordinate} is @public and also demands a caller (on the field or its type): choose one`);
  }
  for (const name of requirement.policies.flat(2)) {
    if (!Object.hasOwn(policies, name)) {
      throw new Error(
        `${coordinate} names @policy "${name}", which is not registered in src/authorization/policies.ts`,
      );
    }
  }
  return requirement.public || demands ? requirement : undefined;
}

/** A requirement that demands a verified caller and nothing more: `@authenticated` alone. */
export function onlyAuthenticated(requirement: Requirement): boolean {
  const { scopes, permissions, roles, policies, authContexts } = requirement;
  return !requirement.public && [scopes, permissions, roles, policies, authContexts].every((l) => l.length === 0);
}

/** Whether `held` holds every name of one of the groups. */
function meets(held: readonly string[], anyOf: AnyOf): boolean {
  return anyOf.some((group) => group.every((name) => held.includes(name)));
}

/** The first entry (of those every one must meet) that `held` does not meet. */
const unmet = (held: readonly string[], entries: readonly AnyOf[]) => entries.find((anyOf) => !meets(held, anyOf));

/**
 * The decision about one field from the caller's token alone, before its policies: synchronous, the same for every
 * occurrence of the field in an operation.
 */
export function decideFromClaims(requirement: Requirement, principal: Principal | null): Verdict {
  if (requirement.public) return true;
  if (!isAuthenticated(principal)) return unauthenticated();
  const { scopes, permissions, roles } = requirement;
  const gated = scopes.length > 0 || permissions.length > 0;
  if (principal.kind === 'app') {
    if (roles.length > 0 || (gated && permissions.length === 0)) {
      return refusal(requirement, 'app_tokens_not_accepted');
    }
    const missing = unmet(principal.roles, permissions);
    return missing ? refusal(requirement, 'missing_app_role', missing) : stepUp(requirement, principal);
  }
  if (gated && scopes.length === 0) return refusal(requirement, 'user_tokens_not_accepted');
  const missingScopes = unmet(principal.scopes, scopes);
  if (missingScopes) return refusal(requirement, 'insufficient_scope', missingScopes);
  const missingRoles = unmet(principal.roles, roles);
  if (missingRoles) return refusal(requirement, 'missing_role', missingRoles);
  return stepUp(requirement, principal);
}

/**
 * A caller permitted otherwise, whose sign-in lacks an authentication context the field needs: a client that said
 * it handles claims challenges (`xms_cc` holds `cp1`) gets one, to sign the user in again with the context; others
 * are refused, since they could not act on it.
 */
function stepUp(requirement: Requirement, principal: Principal): Verdict {
  const missing = requirement.authContexts.find((context) => !principal.authContexts.includes(context));
  if (missing === undefined) return true;
  if (principal.clientCapabilities.includes('cp1')) {
    return authContextChallenge(requirement, missing, requirement.authorizationUri);
  }
  return refusal(requirement, 'auth_context_required', [[missing]]);
}

/** The whole decision: the claims, then the named policies (which may be asynchronous). */
export function decide(
  requirement: Requirement,
  policies: Policies,
  context: Context,
  args: Readonly<Record<string, unknown>>,
  parent: unknown,
): Verdict | Promise<Verdict> {
  const verdict = decideFromClaims(requirement, context.principal);
  if (verdict !== true || requirement.policies.length === 0) return verdict;
  const request: PolicyRequest = { caller: context.principal as Principal, args, parent, context };
  return decidePolicies(requirement, policies, request);
}

async function decidePolicies(requirement: Requirement, policies: Policies, request: PolicyRequest): Promise<Verdict> {
  for (const anyOf of requirement.policies) {
    let admitted = false;
    for (const group of anyOf) {
      let all = true;
      for (const name of group) {
        const answer = await (policies[name] as PolicyFunction)(request);
        if (answer === true) continue;
        // A policy's own error speaks for it only when no alternative admits the caller.
        if (answer !== false && anyOf.length === 1) return answer;
        all = false;
        break;
      }
      if (all) {
        admitted = true;
        break;
      }
    }
    if (!admitted) return refusal(requirement, 'policy_refused', anyOf);
  }
  return true;
}
