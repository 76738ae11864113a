import { allow, deny, rule, shield } from 'graphql-shield';
import { hasAnyAppRole, hasAnyScope, isAuthenticated } from '../auth';
import { ErrorCode, forbidden, unauthenticated } from '../errors';
import { GraphQLError } from 'graphql';
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

/** Every field of the schema with its rule; a field missing here is denied (and fails a test). */
export function ruleTree(policy: Policy) {
  return {
    Query: { hello: callerMay(policy) },
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
    },
  };
}

/** Deny by default, and errors from resolvers reach the client as they are. */
export function permissions(policy: Policy) {
  return shield(ruleTree(policy), {
    fallbackRule: deny,
    allowExternalErrors: true,
    fallbackError: () =>
      new GraphQLError('Not authorised', { extensions: { code: ErrorCode.FORBIDDEN, reason: 'no_rule' } }),
  });
}
