import {
  hasAllAppRoles,
  hasAllScopes,
  hasAnyAppRole,
  hasAnyScope,
  isAuthenticated,
  type Principal,
} from '../../src/auth';
import { PLAIN_TOKEN } from '../helpers/principals';

const user: Principal = Object.freeze({
  kind: 'user',
  tenantId: 't',
  objectId: 'o',
  subject: 's',
  username: 'ada@contoso.example',
  employeeId: null,
  name: null,
  scopes: ['Hello.Read', 'Files.Read'],
  roles: ['Hello.Admin'],
  appId: 'a',
  tokenVersion: '2.0',
  isGuest: false,
  expiresAt: 1893456000,
  ...PLAIN_TOKEN,
});
const app: Principal = Object.freeze({
  ...user,
  kind: 'app',
  scopes: [],
  roles: ['Hello.Read.All', 'Hello.Write.All'],
});

describe('authorisation helpers', () => {
  it('isAuthenticated: a verified caller is present', () => {
    expect(isAuthenticated(user)).toBe(true);
    expect(isAuthenticated(app)).toBe(true);
    expect(isAuthenticated(null)).toBe(false);
    expect(isAuthenticated(undefined)).toBe(false);
  });

  it('any-of scopes: a user holding one of them', () => {
    expect(hasAnyScope(user, ['Nope', 'Hello.Read'])).toBe(true);
    expect(hasAnyScope(user, ['Nope'])).toBe(false);
    expect(hasAnyScope(user, [])).toBe(false);
  });

  it('scopes match exactly: no case folding, prefixes or substrings', () => {
    expect(hasAnyScope(user, ['hello.read', 'Hello', 'Hello.Read.All', 'Read'])).toBe(false);
  });

  it('all-of scopes: a user holding every one', () => {
    expect(hasAllScopes(user, ['Hello.Read', 'Files.Read'])).toBe(true);
    expect(hasAllScopes(user, ['Hello.Read', 'Nope'])).toBe(false);
  });

  it('scopes never count for app-only callers', () => {
    const appWithScopes = { ...app, scopes: ['Hello.Read'] };
    expect(hasAnyScope(appWithScopes, ['Hello.Read'])).toBe(false);
    expect(hasAllScopes(appWithScopes, ['Hello.Read'])).toBe(false);
  });

  it('app roles count only for app-only callers', () => {
    expect(hasAnyAppRole(app, ['Hello.Read.All'])).toBe(true);
    expect(hasAnyAppRole(app, ['Other'])).toBe(false);
    expect(hasAllAppRoles(app, ['Hello.Read.All', 'Hello.Write.All'])).toBe(true);
    expect(hasAllAppRoles(app, ['Hello.Read.All', 'Other'])).toBe(false);
    expect(hasAnyAppRole(user, ['Hello.Admin'])).toBe(false);
    expect(hasAllAppRoles(user, ['Hello.Admin'])).toBe(false);
  });
});
