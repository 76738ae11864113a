import type { Principal } from './principal';

/** A verified caller is present. */
export function isAuthenticated(principal: Principal | null | undefined): principal is Principal {
  return principal !== null && principal !== undefined;
}

/** A user holding at least one of `scopes`. Apps never hold delegated scopes. */
export function hasAnyScope(principal: Principal, scopes: readonly string[]): boolean {
  return principal.kind === 'user' && scopes.some((scope) => principal.scopes.includes(scope));
}

/** A user holding every one of `scopes`. */
export function hasAllScopes(principal: Principal, scopes: readonly string[]): boolean {
  return principal.kind === 'user' && scopes.every((scope) => principal.scopes.includes(scope));
}

/** An app-only caller granted at least one of `roles`. A user's app-role assignments do not count. */
export function hasAnyAppRole(principal: Principal, roles: readonly string[]): boolean {
  return principal.kind === 'app' && roles.some((role) => principal.roles.includes(role));
}

/** An app-only caller granted every one of `roles`. */
export function hasAllAppRoles(principal: Principal, roles: readonly string[]): boolean {
  return principal.kind === 'app' && roles.every((role) => principal.roles.includes(role));
}
