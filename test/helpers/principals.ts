import type { Principal } from '../../src/auth';

const TENANT = '7b6a1c4e-0d3f-4c2a-9e51-3f8d2b7a6c10';
/** 2030-01-01T00:00:00Z: far enough ahead for the subscription tests that count down to it. */
export const EXPIRES_AT = 1893456000;

/** What an ordinary token (no step-up, no agent, no groups) gives the claims Entra ID added after the first ones. */
export const PLAIN_TOKEN = {
  authContexts: [],
  clientCapabilities: [],
  agent: null,
  actedByAgent: false,
  agentBlueprintId: null,
  groups: [],
  groupsOverage: false,
} as const;

/** Callers as the verifier would return them, for resolver and rule tests that skip the HTTP layer. */
export const principals = {
  v2User: Object.freeze<Principal>({
    kind: 'user',
    tenantId: TENANT,
    objectId: '3f1e2d4c-5b6a-4789-8a0b-1c2d3e4f5a6b',
    subject: 'pairwise-subject-of-ada',
    username: 'ada@contoso.example',
    employeeId: 'E-1815',
    name: 'Ada Lovelace',
    scopes: ['access_as_user'],
    roles: [],
    appId: 'c9d8e7f6-1a2b-4c3d-9e8f-0a1b2c3d4e5f',
    tokenVersion: '2.0',
    isGuest: false,
    expiresAt: EXPIRES_AT,
    ...PLAIN_TOKEN,
  }),
  v1User: Object.freeze<Principal>({
    kind: 'user',
    tenantId: TENANT,
    objectId: '5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d',
    subject: 'pairwise-subject-of-grace',
    username: 'grace@contoso.example',
    employeeId: null,
    name: 'Grace Hopper',
    scopes: ['access_as_user', 'Files.Read'],
    roles: ['Hello.Read.All'],
    appId: 'c9d8e7f6-1a2b-4c3d-9e8f-0a1b2c3d4e5f',
    tokenVersion: '1.0',
    isGuest: false,
    expiresAt: EXPIRES_AT,
    ...PLAIN_TOKEN,
  }),
  guest: Object.freeze<Principal>({
    kind: 'user',
    tenantId: TENANT,
    objectId: '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b',
    subject: 'pairwise-subject-of-guest',
    username: 'visitor_fabrikam.example#EXT#@contoso.example',
    employeeId: null,
    name: null,
    scopes: ['access_as_user'],
    roles: [],
    appId: 'c9d8e7f6-1a2b-4c3d-9e8f-0a1b2c3d4e5f',
    tokenVersion: '2.0',
    isGuest: true,
    expiresAt: EXPIRES_AT,
    ...PLAIN_TOKEN,
  }),
  app: Object.freeze<Principal>({
    kind: 'app',
    tenantId: TENANT,
    objectId: 'a7d0c3e1-9b2f-4c6d-8e1a-2b3c4d5e6f70',
    subject: 'a7d0c3e1-9b2f-4c6d-8e1a-2b3c4d5e6f70',
    username: 'c9d8e7f6-1a2b-4c3d-9e8f-0a1b2c3d4e5f',
    employeeId: null,
    name: null,
    scopes: [],
    roles: ['Hello.Read.All'],
    appId: 'c9d8e7f6-1a2b-4c3d-9e8f-0a1b2c3d4e5f',
    tokenVersion: '2.0',
    isGuest: false,
    expiresAt: EXPIRES_AT,
    ...PLAIN_TOKEN,
  }),
};

export function withPermissions(principal: Principal, change: { scopes?: string[]; roles?: string[] }): Principal {
  return Object.freeze({ ...principal, ...change });
}
