import { forbidden } from '../graphql/errors';
import type { Policies, PolicyFunction } from './requirements';

/**
 * The API's named policies, for `@policy(policies: [["name"]])`: what a token's scopes and roles cannot say. Each is a
 * function of the verified caller, the field's arguments and its parent object (see PolicyRequest), registered here
 * under the name the schema uses; a schema naming a policy missing here does not start.
 */
export const policies: Policies = {
  /**
   * Members of the tenant, not B2B guests. A guest may hold the same scopes as a member: their home tenant signed
   * them in, and the inviting tenant's Conditional Access and lifecycle apply to them only in part.
   */
  member: ({ caller }) => !caller.isGuest,
  /**
   * No Entra Agent ID agent, neither as the subject (an agent identity or an agent's user account) nor acting for a
   * person: for operations a person must perform themselves. Without it an agent is admitted on its permissions, as
   * any caller is.
   */
  notAgent: ({ caller }) =>
    (caller.agent === null && !caller.actedByAgent) ||
    forbidden(
      'An AI agent may not call this operation, on its own or for a person: the person must call it themselves',
      'agent_not_allowed',
    ),
};

/**
 * A policy admitting members of any of the groups (object ids, as the `groups` claim holds them), to register under a
 * name of your own. A caller past the overage limit is refused with `groups_overage`, never taken as a member of no
 * group: docs/entra-id.md#groups says why the token is not completed through Graph, and how to avoid overage.
 */
export function memberOfAnyGroup(...groupIds: readonly string[]): PolicyFunction {
  const wanted = groupIds.map((id) => id.toLowerCase());
  return ({ caller }) => {
    if (caller.groupsOverage) {
      return forbidden(
        'Your account is in more groups than an access token can list (group overage), so group membership cannot be decided: an administrator can emit only the groups assigned to the application',
        'groups_overage',
      );
    }
    return caller.groups.some((group) => wanted.includes(group.toLowerCase()));
  };
}
