import type { Policies } from './requirements';

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
};
