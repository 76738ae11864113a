export { extractBearerToken, MAX_AUTHORIZATION_LENGTH } from './bearer';
export { AuthError, AUTH_REASONS, type AuthReason, type AuthErrorCategory } from './errors';
export type { AuthLogger, KeyFetchEvent, VerifierOptions } from './options';
export { hasAllAppRoles, hasAllScopes, hasAnyAppRole, hasAnyScope, isAuthenticated } from './policy';
export { subjectKindOf, type AgentKind, type CallerKind, type Principal, type TokenVersion } from './principal';
export { createTokenVerifier, type TokenVerifier } from './verifier';
export type { TokenCacheStats } from './token-cache';
